// Package memlimit is the agent's memory ceiling: the limit the kernel
// enforces on the process's cgroup (v1 memory.limit_in_bytes or v2
// memory.max), the Go runtime's soft limit derived from agent.memory_limit,
// and the check that the one fits under the other with room to spare.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Headroom is what the agent uses beyond agent.memory_limit at its peak: the
// Go runtime, the binary, produce-request encoding and compression buffers,
// read buffers, metrics, and the garbage the collector has not yet returned.
// Measured through an outage and the catch-up after it (issue 19:
// test/e2e TestCatchUpMemoryAfterOutage): peak RSS within memory_limit +
// 33 MiB at 16, 32 and 64 MiB; 40 MiB leaves a margin.
const Headroom = 40 << 20

// GoHeadroom is the Go soft limit's allowance beyond agent.memory_limit.
// The budget bounds what is retained (line bytes plus a per-line charge for
// the record, headers and tracker entry); this leaves the collector room
// for fixed-size buffers and garbage, so it returns freed memory well
// before the heap doubles. RSS runs about 9 MiB above the soft limit
// (binary, stacks, runtime metadata).
const GoHeadroom = 24 << 20

// SoftLimit is the Go runtime soft memory limit for a budget of
// agent.memory_limit bytes.
func SoftLimit(budget int64) int64 { return budget + GoHeadroom }

// Cgroup is the memory limit of the process's cgroup.
type Cgroup struct {
	// Limit is the smallest memory limit on the cgroup and its ancestors
	// visible to the process, in bytes; 0 when there is none.
	Limit int64
	// File is the file Limit was read from.
	File string
	// Version is "v1" or "v2" (empty when no memory controller was found).
	Version string
}

// unlimited is the threshold above which a v1 limit means "no limit"
// (the kernel reports PAGE_COUNTER_MAX pages, about 2^63 bytes).
const unlimited = 1 << 60

// ReadCgroup finds the memory limit of the process whose cgroup membership
// is in procCgroup (normally /proc/self/cgroup), with the cgroup
// filesystems mounted at root (normally /sys/fs/cgroup). A v1 memory
// controller wins over the v2 unified hierarchy (hybrid mounts have no
// memory controller in the latter). Where the cgroup's own directory is not
// visible (a cgroup namespace shows "/" or a host path), the limit is read
// from the mount's root, which is then the container's cgroup. No memory
// controller at all is not an error: Limit is 0.
func ReadCgroup(procCgroup, root string) (Cgroup, error) {
	b, err := os.ReadFile(procCgroup)
	if err != nil {
		return Cgroup{}, fmt.Errorf("memlimit: %w", err)
	}
	var v1, v2 string
	hasV1, hasV2 := false, false
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2, hasV2 = f[2], true
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == "memory" {
				v1, hasV1 = f[2], true
			}
		}
	}
	switch {
	case hasV1:
		return lowest(filepath.Join(root, "memory"), v1, "memory.limit_in_bytes", "v1")
	case hasV2:
		return lowest(root, v2, "memory.max", "v2")
	}
	return Cgroup{}, nil
}

// lowest walks from the cgroup's directory under base up to base and
// returns the smallest limit found in file.
func lowest(base, cgPath, file, version string) (Cgroup, error) {
	dir := filepath.Join(base, filepath.Clean("/"+cgPath))
	if _, err := os.Stat(dir); err != nil {
		dir = base
	}
	cg := Cgroup{Version: version}
	for {
		limit, err := readLimit(filepath.Join(dir, file))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Cgroup{}, err
		case limit > 0 && (cg.Limit == 0 || limit < cg.Limit):
			cg.Limit, cg.File = limit, filepath.Join(dir, file)
		}
		if dir == base || len(dir) <= len(base) {
			return cg, nil
		}
		dir = filepath.Dir(dir)
	}
}

// readLimit reads one limit file: a byte count, or "max" (v2) or a huge
// value (v1) for none (0).
func readLimit(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memlimit: %s: %q is not a byte count", path, s)
	}
	if n >= unlimited || n < 0 {
		return 0, nil
	}
	return n, nil
}

// Check reports whether a budget of agent.memory_limit bytes fits in the
// cgroup: its peak (budget + Headroom) must not exceed the cgroup's limit.
// The error says what to change.
func Check(budget int64, cg Cgroup) error {
	if cg.Limit == 0 || budget+Headroom <= cg.Limit {
		return nil
	}
	return fmt.Errorf("agent.memory_limit %s needs up to %s of memory (memory_limit + %s for the runtime and buffers), "+
		"but the cgroup allows %s (%s): lower agent.memory_limit to at most %s or raise the memory limit",
		mib(budget), mib(budget+Headroom), mib(Headroom), mib(cg.Limit), cg.File, mib(max(cg.Limit-Headroom, 0)))
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
}
