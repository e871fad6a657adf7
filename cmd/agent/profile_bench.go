//go:build benchprofile

package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"syscall"
	"time"
)

// Profiling hook for bench/cmd/logship-bench -modes profile. It is compiled
// only with -tags benchprofile, never into the released binary. With
// $LOGSHIP_CPUPROFILE set it profiles the CPU from process start; on
// SIGUSR1 it stops the CPU profile, writes the allocation profile to
// $LOGSHIP_MEMPROFILE, finishes the heap profile and the trace below if
// they are still due, and then creates $LOGSHIP_CPUPROFILE.done (or
// $LOGSHIP_MEMPROFILE.done), so the caller knows the files are complete
// before it sends SIGTERM (main exits without waiting for this goroutine).
// With $LOGSHIP_HEAPPROFILE and $LOGSHIP_HEAPPROFILE_AFTER (a duration) it
// writes the in-use heap once, that long after start or at SIGUSR1 if the
// run ends sooner (a fast backlog used to end before it: heap.pprof was
// missing); with $LOGSHIP_TRACE an execution trace of the first
// $LOGSHIP_TRACE_FOR (default 2s), stopped at SIGUSR1 at the latest.
func init() {
	cpuPath, memPath := os.Getenv("LOGSHIP_CPUPROFILE"), os.Getenv("LOGSHIP_MEMPROFILE")
	var heapOnce, traceOnce sync.Once
	writeHeap, stopTrace := func() {}, func() {}
	if heapPath := os.Getenv("LOGSHIP_HEAPPROFILE"); heapPath != "" {
		after, err := time.ParseDuration(os.Getenv("LOGSHIP_HEAPPROFILE_AFTER"))
		if err != nil {
			after = 3 * time.Second
		}
		writeHeap = func() {
			heapOnce.Do(func() {
				f, err := os.Create(heapPath)
				if err == nil {
					err = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "benchprofile: heap profile:", err)
				}
			})
		}
		time.AfterFunc(after, writeHeap)
	}
	if tracePath := os.Getenv("LOGSHIP_TRACE"); tracePath != "" {
		d, err := time.ParseDuration(os.Getenv("LOGSHIP_TRACE_FOR"))
		if err != nil {
			d = 2 * time.Second
		}
		if f, err := os.Create(tracePath); err == nil && trace.Start(f) == nil {
			stopTrace = func() { traceOnce.Do(func() { trace.Stop(); f.Close() }) }
			time.AfterFunc(d, stopTrace)
		}
	}
	if cpuPath == "" && memPath == "" {
		return
	}
	var cpu *os.File
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchprofile: cpu profile:", err)
		} else {
			cpu = f
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	// Exits after the one SIGUSR1 the bench sends at the end of its run;
	// without it, with the process.
	go func() {
		<-sig
		signal.Stop(sig)
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if memPath != "" {
			runtime.GC()
			f, err := os.Create(memPath)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "benchprofile: allocs profile:", err)
			}
		}
		writeHeap()
		stopTrace()
		done := cpuPath
		if done == "" {
			done = memPath
		}
		if err := os.WriteFile(done+".done", nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "benchprofile:", err)
		}
	}()
}
