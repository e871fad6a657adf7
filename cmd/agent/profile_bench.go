//go:build benchprofile

package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// Profiling hook for bench/cmd/logship-bench -modes profile. It is compiled
// only with -tags benchprofile, never into the released binary. With
// $LOGSHIP_CPUPROFILE set it profiles the CPU from process start; on the
// first SIGTERM or SIGINT (which cmdRun also receives and drains on) it
// stops the CPU profile and writes the allocation profile to
// $LOGSHIP_MEMPROFILE. The goroutine exits after writing.
func init() {
	cpuPath, memPath := os.Getenv("LOGSHIP_CPUPROFILE"), os.Getenv("LOGSHIP_MEMPROFILE")
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
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
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
	}()
}
