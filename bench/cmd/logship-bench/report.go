package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/logship/logship/internal/kafkatest"
)

// report collects every mode's results and renders them as Markdown.
type report struct {
	o        options
	started  time.Time
	elapsed  time.Duration
	machine  []string
	loadEnd  string
	backlog  []backlogResult
	latency  []latencyResult
	scale    []backlogResult
	files    *filesResult
	catchup  []catchupResult
	profiles []string
	failures []string
}

func newReport(o options) *report { return &report{o: o, started: time.Now()} }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func describeMachine(o options) []string {
	var out []string
	model, cores := "?", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cores++
				if i := strings.IndexByte(l, ':'); i >= 0 {
					model = strings.TrimSpace(l[i+1:])
				}
			}
		}
	}
	out = append(out, fmt.Sprintf("CPU: %s, %d logical cores (GOMAXPROCS %d)", model, cores, runtime.GOMAXPROCS(0)))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				f := strings.Fields(l)
				out = append(out, "Memory: "+f[1]+" kB")
			}
		}
	}
	if b, err := exec.Command("uname", "-sr").Output(); err == nil {
		out = append(out, "Kernel: "+strings.TrimSpace(string(b)))
	}
	out = append(out, "Bench driver: "+runtime.Version())
	if b, err := exec.Command(o.bin, "version").Output(); err == nil {
		out = append(out, "logship: "+strings.TrimSpace(string(b))+" ("+o.bin+")")
	}
	if b, err := exec.Command(o.kcat, "-V").CombinedOutput(); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Version") {
				out = append(out, "kcat: "+strings.TrimSpace(l))
			}
		}
	}
	out = append(out, "Kafka: "+kafkatest.KafkaVersion+" (KRaft, single node, RF 1, on 127.0.0.1, same machine)")
	out = append(out, "Load average at start: "+loadAvg())
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# logship vs kcat — %s\n\n", r.started.Format("2006-01-02 15:04 MST"))
	w("Command: `%s`  \n", strings.Join(append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...), " "))
	w("Total bench time: %s. Load average at end: %s.\n\n", r.elapsed.Round(time.Second), r.loadEnd)
	w("Machine:\n\n")
	for _, m := range r.machine {
		w("- %s\n", m)
	}
	w("\nSettings (both tools): acks=all, lz4, linger 10 ms, batches up to 1 MiB, %d partitions, no record key "+
		"(logship: key none + round_robin; kcat: no key, librdkafka's default partitioner). "+
		"Every run goes into a fresh topic and is checked by an independent consumer (kcat -C): "+
		"every sequence number present, record count = sum of high watermarks.\n\n", r.o.partitions)

	if len(r.backlog) > 0 {
		w("## Backlog: %s lines (%.0f MB), %d rounds each, alternating\n\n", fmtInt(int64(r.backlog[0].Lines)),
			float64(r.backlog[0].Bytes)/1e6, r.o.rounds)
		w("| tool | round | load (1m) | time to last ack | lines/s | MB/s | CPU s | CPU s/GB | peak RSS MiB | verified |\n")
		w("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, x := range r.backlog {
			w("| %s | %d | %s | %.2f s | %s | %.1f | %.2f | %.2f | %.1f | %s |\n", x.Tool, x.Round, x.Load, x.Wall.Seconds(),
				fmtInt(int64(x.linesPerSec())), x.mbPerSec(), x.CPU.Seconds(), x.cpuPerGB(), mib(x.PeakRSS), okText(x.V))
		}
		med := map[string][4]float64{}
		for _, tool := range []string{"logship", "kcat"} {
			var lps, mbs, cpu, rss []float64
			for _, x := range r.backlog {
				if x.Tool == tool {
					lps = append(lps, x.linesPerSec())
					mbs = append(mbs, x.mbPerSec())
					cpu = append(cpu, x.cpuPerGB())
					rss = append(rss, mib(x.PeakRSS))
				}
			}
			med[tool] = [4]float64{median(lps), median(mbs), median(cpu), median(rss)}
		}
		l, k := med["logship"], med["kcat"]
		w("\nMedians and ratios:\n\n")
		w("| figure | logship | kcat | logship/kcat | goal | met |\n|---|---|---|---|---|---|\n")
		w("| lines/s | %s | %s | %.2f× | ≥ 1.0× | %s |\n", fmtInt(int64(l[0])), fmtInt(int64(k[0])), l[0]/k[0], yes(l[0]/k[0] >= 1))
		w("| MB/s | %.1f | %.1f | %.2f× | | |\n", l[1], k[1], l[1]/k[1])
		w("| CPU s per GB | %.2f | %.2f | %.2f× | ≤ 1.0× | %s |\n", l[2], k[2], l[2]/k[2], yes(l[2]/k[2] <= 1))
		w("| peak RSS MiB | %.1f | %.1f | %.2f× | logship ≤ 64 MiB | %s |\n", l[3], k[3], l[3]/k[3], yes(l[3] <= 64))
		w("\n")
	}
	if len(r.latency) > 0 {
		w("## Latency: %s lines/s appended to a live file for %s\n\n", fmtInt(int64(r.o.rate)), r.o.latencyDur)
		w("Delay = broker LogAppendTime (ms resolution) − time of the write(2) that appended the line; "+
			"the first %s of lines are excluded as warm-up. kcat follows the file through `tail -F | kcat -P -u`; "+
			"its CPU column counts kcat only, not tail.\n\n", latencyWarmup)
		w("| tool | lines written | lines in percentiles | p50 ms | p99 ms | max ms | producer CPU %% of a core | peak RSS MiB | verified |\n")
		w("|---|---|---|---|---|---|---|---|---|\n")
		for _, x := range r.latency {
			w("| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %s |\n", x.Tool, fmtInt(int64(x.Written)), fmtInt(int64(x.Stats.N)),
				x.Stats.P50, x.Stats.P99, x.Stats.Max, x.CPUPct, mib(x.PeakRSS), okText(x.V))
		}
		for _, x := range r.latency {
			if x.HeldUntilEOF > 0 {
				w("\n%s held %s lines until its input ended (10 s after the writer stopped); their delays are in the max.\n",
					x.Tool, fmtInt(int64(x.HeldUntilEOF)))
			}
		}
		for _, x := range r.latency {
			if x.Tool == "logship" {
				w("\nGoal: logship p99 ≤ linger + 10 ms = 20 ms: %s (%.1f ms).\n", yes(x.Stats.P99 <= 20), x.Stats.P99)
			}
		}
		w("\n")
	}
	if len(r.scale) > 0 {
		w("## Scale: backlog size (logship only)\n\n")
		w("| lines | time | lines/s | CPU s | CPU s per million lines | peak RSS MiB | verified |\n|---|---|---|---|---|---|---|\n")
		for _, x := range r.scale {
			w("| %s | %.2f s | %s | %.2f | %.3f | %.1f | %s |\n", fmtInt(int64(x.Lines)), x.Wall.Seconds(), fmtInt(int64(x.linesPerSec())),
				x.CPU.Seconds(), x.cpuPerMLines(), mib(x.PeakRSS), okText(x.V))
		}
		if len(r.scale) == 2 {
			ratio := r.scale[1].cpuPerMLines() / r.scale[0].cpuPerMLines()
			w("\nCPU per line, large / small: %.2f× (goal ≤ 1.1×: %s). Peak RSS goal ≤ 64 MiB at any backlog: %s.\n",
				ratio, yes(ratio <= 1.1), yes(mib(r.scale[0].PeakRSS) <= 64 && mib(r.scale[1].PeakRSS) <= 64))
		}
		w("\n")
	}
	if f := r.files; f != nil {
		w("## Many files (logship only)\n\n")
		w("| files | lines/s per file | measured for | CPU %% of one core | RSS MiB | peak RSS MiB | lines | verified |\n|---|---|---|---|---|---|---|---|\n")
		w("| %d | %d | %s | %.2f | %.1f | %.1f | %s | %s |\n", f.Files, f.Rate, f.Dur, f.CPUPct, mib(f.RSS), mib(f.PeakRSS), fmtInt(int64(f.Written)), okText(f.V))
		w("\nGoal: < 5%% of one core: %s.\n\n", yes(f.CPUPct < 5))
	}
	if len(r.catchup) > 0 {
		w("## Catch-up after an outage: %s lines (%.0f MB) waiting when the broker resumes\n\n",
			fmtInt(int64(r.catchup[0].Lines)), float64(r.catchup[0].Bytes)/1e6)
		w("The broker is paused (SIGSTOP). logship follows a file; the backlog is appended once the first %d lines "+
			"are shipped, and the broker resumes when logship's memory budget is full. kcat -P -l reads the same "+
			"backlog into librdkafka's queue; the broker resumes when kcat's RSS has stopped growing. RSS is sampled "+
			"every 100 ms; peak = VmHWM (logship) or ru_maxrss (kcat).\n\n", warmLines)
		w("| tool | load (1m) | drain | peak RSS MiB while paused | peak RSS MiB sampled | peak RSS MiB | verified |\n|---|---|---|---|---|---|---|\n")
		for _, x := range r.catchup {
			w("| %s | %s | %.2f s | %.1f | %.1f | %.1f | %s |\n", x.Tool, x.Load, x.Drain.Seconds(), mib(x.PausedPeak),
				mib(x.SampledPeak), mib(x.PeakRSS), okText(x.V))
		}
		w("\nGoal: logship's peak ≤ memory_limit + 40 MiB (72 MiB at the default 32MiB).\n\n")
	}
	if len(r.profiles) > 0 {
		w("## Profile of one logship backlog run\n\n")
		for _, p := range r.profiles {
			w("```\n%s```\n\n", p)
		}
	}
	if len(r.failures) > 0 {
		w("## FAILURES\n\n")
		for _, f := range r.failures {
			w("- %s\n", f)
		}
		w("\n")
	}
	w("Noise: this machine is shared (other builds and broker tests run concurrently); the load column shows it. " +
		"Compare ratios within one run, not absolute figures across runs.\n")
	return b.String()
}

func okText(v verdict) string {
	s := "all " + fmtInt(int64(v.Records-v.Dups)) + " lines"
	if v.Dups > 0 {
		s += fmt.Sprintf(" (+%d dup)", v.Dups)
	}
	if !v.OK() {
		s = "**FAILED** " + v.String()
	}
	return s
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}
