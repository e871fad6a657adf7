package agenttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Usage is the resource use of one process.
type Usage struct {
	CPU     time.Duration // user + system
	PeakRSS int64         // bytes (VmHWM, or ru_maxrss after exit)
	RSS     int64         // bytes (VmRSS; 0 after exit)
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcUsage reads a live process's CPU time from /proc/<pid>/stat and its
// peak and current RSS from /proc/<pid>/status.
func ProcUsage(pid int) (Usage, error) {
	var u Usage
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return u, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return u, fmt.Errorf("/proc/%d/stat: malformed times", pid)
	}
	u.CPU = time.Duration(ut+st) * time.Second / clockTicks
	if u.PeakRSS, err = StatusBytes(pid, "VmHWM:"); err != nil {
		return u, err
	}
	if u.RSS, err = StatusBytes(pid, "VmRSS:"); err != nil {
		return u, err
	}
	return u, nil
}

// StatusBytes reads one kB field of /proc/<pid>/status ("VmRSS:",
// "VmHWM:") in bytes.
func StatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, field) {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 2 {
			break
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// ExitUsage is the whole-life resource use of an exited process.
func ExitUsage(ps *os.ProcessState) Usage {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return Usage{}
	}
	return Usage{
		CPU:     time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		PeakRSS: ru.Maxrss * 1024, // KiB on Linux
	}
}

// FDTargets returns what each open descriptor of pid points at (readlink of
// /proc/<pid>/fd/N: a path, with " (deleted)" once unlinked, or
// "socket:[…]", "pipe:[…]", "anon_inode:…"). A descriptor closed while it
// is listed is left out.
func FDTargets(pid int) ([]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, target)
		}
	}
	return out, nil
}

// RSSSampler reads a process's VmRSS every 100 ms and keeps the peak before
// and after Mark and, after Mark, the largest sample of each second.
type RSSSampler struct {
	mu        sync.Mutex
	marked    bool
	before    int64
	after     int64
	perSecond []int64 // after Mark

	quit, done chan struct{}
	once       sync.Once
}

// SampleRSS starts sampling pid. Call Stop when done.
func SampleRSS(pid int) *RSSSampler {
	s := &RSSSampler{quit: make(chan struct{}), done: make(chan struct{})}
	// Exits on Stop or when the process is gone.
	go func() {
		defer close(s.done)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for n := 0; ; n++ {
			rss, err := StatusBytes(pid, "VmRSS:")
			if err != nil {
				return
			}
			s.mu.Lock()
			if !s.marked {
				s.before = max(s.before, rss)
			} else {
				s.after = max(s.after, rss)
				if n%10 == 0 || len(s.perSecond) == 0 {
					s.perSecond = append(s.perSecond, 0)
				}
				last := &s.perSecond[len(s.perSecond)-1]
				*last = max(*last, rss)
			}
			s.mu.Unlock()
			select {
			case <-s.quit:
				return
			case <-tk.C:
			}
		}
	}()
	return s
}

// Mark ends the first phase: later samples count as after.
func (s *RSSSampler) Mark() {
	s.mu.Lock()
	s.marked = true
	s.mu.Unlock()
}

// Stop ends sampling and returns the peaks before and after Mark. It may
// be called more than once.
func (s *RSSSampler) Stop() (before, after int64) {
	s.once.Do(func() { close(s.quit) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.before, s.after
}

// PerSecond returns the largest sample of each second after Mark, in bytes
// (call after Stop).
func (s *RSSSampler) PerSecond() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.perSecond...)
}
