package soak

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Fault kinds. A schedule's events carry one of these; the healing half of
// a fault (agent start, broker resume, ...) has the same kind and Heal set,
// so removing a kind removes both halves.
const (
	KindAgentKill    = "agent-kill9"      // SIGKILL, restart later
	KindAgentTerm    = "agent-sigterm"    // SIGTERM (drain), restart later
	KindAgentStop    = "agent-sigstop"    // SIGSTOP, SIGCONT later
	KindBrokerPause  = "broker-pause"     // SIGSTOP the broker, SIGCONT later
	KindBrokerKill   = "broker-kill9"     // SIGKILL the broker, restart later
	KindBrokerStop   = "broker-stop"      // clean broker stop, restart later
	KindNetLatency   = "net-latency"      // N ms each way on the agent's connections, healed later
	KindNetBlackhole = "net-blackhole"    // the agent's connections pass nothing, healed later
	KindNetReset     = "net-reset"        // the agent's connections are reset (and new ones), healed later
	KindReload       = "agent-sighup"     // SIGHUP with a changed pipeline (rescan and close_inactive)
	KindRename       = "rotate-rename"    // rename + create, late writes to the old fd
	KindCopyTruncate = "copytruncate"     // copy, lines in the window, truncate
	KindDelete       = "delete-recreate"  // unlink a fully shipped file, create it again
	KindTruncate     = "truncate-rewrite" // truncate a fully shipped file in place, write anew
	KindVanish       = "vanish"           // unlink a fully shipped rotated or retired file
	KindNewFile      = "new-file"         // a new file appears
	KindRetire       = "retire"           // a file stops growing (and may vanish later)
	KindBurst        = "burst"            // many lines in one write
	KindRate         = "rate"             // a file's rate changes
	KindSnapshot     = "c3-snapshot"      // a check, not a fault: freeze, compare checkpoint with Kafka
)

// Event is one step of a schedule: when the ledger holds At lines in total,
// apply Kind to File (writer faults) or Node (broker faults) with N as the
// kind's parameter (lines for bursts, late writes and copytruncate windows;
// lines per second for rate).
type Event struct {
	At   int64  `json:"at"`
	Kind string `json:"kind"`
	Heal bool   `json:"heal,omitempty"`
	File int    `json:"file,omitempty"`
	Node int    `json:"node,omitempty"`
	N    int    `json:"n,omitempty"`
}

func (e Event) String() string {
	h := ""
	if e.Heal {
		h = " heal"
	}
	return fmt.Sprintf("@%d %s%s file=%d node=%d n=%d", e.At, e.Kind, h, e.File, e.Node, e.N)
}

// Schedule is everything a seed decides: the files' payload lengths and
// starting rates and the ordered events. The same Plan gives the same
// Schedule.
type Schedule struct {
	Seed     uint64  `json:"seed"`
	Target   int64   `json:"target_lines"`
	Payloads []int   `json:"payloads"` // payload length per file index (new files included)
	Rates    []int   `json:"rates"`    // initial lines/s per starting file
	Events   []Event `json:"events"`
}

// Plan is the input of a schedule.
type Plan struct {
	Seed     uint64
	Duration time.Duration
	Files    int
	Rate     int // total lines per second, spread over the files
	Nodes    int
	Without  []string // kinds removed (shrinking)
}

// faultKinds are the kinds a schedule mixes, with their weights.
var faultKinds = []struct {
	kind   string
	weight int
}{
	{KindAgentKill, 6}, {KindAgentTerm, 3}, {KindAgentStop, 4},
	{KindBrokerPause, 3}, {KindBrokerKill, 2}, {KindBrokerStop, 2}, {KindReload, 3},
	{KindNetLatency, 2}, {KindNetBlackhole, 2}, {KindNetReset, 2},
	{KindRename, 8}, {KindCopyTruncate, 6}, {KindDelete, 3}, {KindTruncate, 3},
	{KindVanish, 6}, {KindNewFile, 2}, {KindRetire, 1}, {KindBurst, 6}, {KindRate, 4},
}

// NewSchedule derives the schedule of p.
func NewSchedule(p Plan) Schedule {
	rng := rand.New(rand.NewPCG(p.Seed, 0x50a4))
	s := Schedule{Seed: p.Seed, Target: int64(p.Rate) * int64(p.Duration/time.Second)}
	perSec := float64(p.Rate)
	lines := func(secLo, secHi float64) int64 {
		return int64((secLo + rng.Float64()*(secHi-secLo)) * perSec)
	}
	weights := make([]float64, p.Files)
	sum := 0.0
	for i := range weights {
		weights[i] = 0.2 + rng.Float64()*rng.Float64()*4 // a few busy files, many slow ones
		sum += weights[i]
	}
	for i := range p.Files {
		s.Rates = append(s.Rates, max(1, int(float64(p.Rate)*weights[i]/sum)))
		s.Payloads = append(s.Payloads, 10+rng.IntN(190))
	}
	files := p.Files
	total := 0
	for _, k := range faultKinds {
		total += k.weight
	}
	var agentFree, brokerFree, netFree int64
	var evs []Event
	// The first faults come after a few seconds of plain shipping.
	for at := lines(3, 5); at < s.Target-lines(10, 10); at += lines(0.3, 4) {
		pick := rng.IntN(total)
		kind := ""
		for _, k := range faultKinds {
			if pick < k.weight {
				kind = k.kind
				break
			}
			pick -= k.weight
		}
		file := rng.IntN(files)
		switch kind {
		case KindAgentKill, KindAgentTerm, KindAgentStop:
			if at < agentFree {
				continue
			}
			d := lines(0.2, 4)
			if kind == KindAgentStop {
				d = lines(1, 15)
			}
			evs = append(evs, Event{At: at, Kind: kind}, Event{At: at + d, Kind: kind, Heal: true})
			agentFree = at + d + lines(1, 3)
		case KindBrokerPause, KindBrokerKill, KindBrokerStop:
			if at < brokerFree {
				continue
			}
			node := rng.IntN(max(p.Nodes, 1))
			d := lines(2, 20)
			evs = append(evs, Event{At: at, Kind: kind, Node: node}, Event{At: at + d, Kind: kind, Heal: true, Node: node})
			brokerFree = at + d + lines(5, 15)
		case KindNetLatency, KindNetBlackhole, KindNetReset:
			if at < netFree {
				continue
			}
			d := lines(1, 12)
			ms := 0
			if kind == KindNetLatency {
				ms = 50 + rng.IntN(750)
			}
			evs = append(evs, Event{At: at, Kind: kind, N: ms}, Event{At: at + d, Kind: kind, Heal: true})
			netFree = at + d + lines(3, 10)
		case KindReload:
			evs = append(evs, Event{At: at, Kind: kind, N: rng.IntN(2)})
		case KindRename:
			evs = append(evs, Event{At: at, Kind: kind, File: file, N: 1 + rng.IntN(200)})
		case KindCopyTruncate:
			evs = append(evs, Event{At: at, Kind: kind, File: file, N: rng.IntN(4)})
		case KindBurst:
			evs = append(evs, Event{At: at, Kind: kind, File: file, N: 100 + rng.IntN(5000)})
		case KindRate:
			evs = append(evs, Event{At: at, Kind: kind, File: file, N: 1 + rng.IntN(2*p.Rate/p.Files+1)})
		case KindNewFile:
			s.Payloads = append(s.Payloads, 10+rng.IntN(190))
			evs = append(evs, Event{At: at, Kind: kind, File: files, N: 1 + rng.IntN(p.Rate/p.Files+1)})
			files++
		default:
			evs = append(evs, Event{At: at, Kind: kind, File: file})
		}
	}
	for at := lines(8, 12); at < s.Target; at += lines(10, 20) {
		evs = append(evs, Event{At: at, Kind: KindSnapshot})
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return cmp.Compare(a.At, b.At) })
	for _, e := range evs {
		if !slices.Contains(p.Without, e.Kind) {
			s.Events = append(s.Events, e)
		}
	}
	return s
}

// Kinds counts the non-heal events per kind.
func (s Schedule) Kinds() map[string]int {
	m := map[string]int{}
	for _, e := range s.Events {
		if !e.Heal {
			m[e.Kind]++
		}
	}
	return m
}

// formatCounts prints a kind->count map sorted by kind.
func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}
