// Command soak runs the seeded multi-fault soak (TESTING.md F39) against the
// logship binary and a real Kafka cluster, prints one summary line, and
// exits 1 when a check failed. With -shrink it reruns a failing seed with
// fault kinds removed one at a time and prints the smallest failing
// schedule.
//
//	go run ./test/soak/cmd/soak -seed 42 -duration 10m -bin bin/logship
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/logship/logship/test/soak"
)

func main() {
	os.Exit(run())
}

func run() int {
	seed := flag.Uint64("seed", 0, "schedule seed (0: a fresh random seed, printed)")
	duration := flag.Duration("duration", 10*time.Minute, "how long the writers write")
	files := flag.Int("files", 20, "writer files at the start")
	rate := flag.Int("rate", 2000, "total lines per second")
	nodes := flag.Int("nodes", 1, "Kafka nodes: 1 or 3")
	maxOpen := flag.Int("max-open-files", 6, "the pipeline's max_open_files (readers park when files outnumber it)")
	bin := flag.String("bin", "bin/logship", "the logship binary")
	workDir := flag.String("workdir", "", "parent of the work directory (default: the temp dir)")
	keep := flag.Bool("keep", false, "keep the work directory even when the run passes")
	without := flag.String("without", "", "comma-separated fault kinds to leave out")
	shrink := flag.Bool("shrink", false, "shrink a failing seed: remove fault kinds one at a time")
	flag.Parse()
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	cfg := soak.Config{Seed: *seed, Duration: *duration, Files: *files, Rate: *rate, Nodes: *nodes,
		MaxOpenFiles: *maxOpen, Bin: *bin, WorkDir: *workDir, Keep: *keep, Log: os.Stderr}
	if *without != "" {
		cfg.Without = strings.Split(*without, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "soak: seed %d (replay: make soak SEED=%d DURATION=%s)\n", *seed, *seed, *duration)
	if *shrink {
		w, res, err := soak.Shrink(ctx, cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Println(res.Summary())
		fmt.Printf("shrink: seed %d still fails without [%s]; smallest failing schedule (%d events):\n", *seed, strings.Join(w, ","), len(res.Schedule.Events))
		for _, e := range res.Schedule.Events {
			if e.Kind != soak.KindSnapshot {
				fmt.Println("  " + e.String())
			}
		}
		for _, f := range res.Failures {
			fmt.Println("  failure: " + f)
		}
		return 1
	}
	res, err := soak.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println(res.Summary())
	if len(res.Failures) == 0 {
		return 0
	}
	for _, f := range res.Failures {
		fmt.Println("failure: " + f)
	}
	for _, n := range res.Notes {
		fmt.Println("note: " + n)
	}
	b, _ := json.Marshal(res.Schedule.Events)
	fmt.Printf("schedule (seed %d): %s\nwork dir: %s\n", *seed, b, res.WorkDir)
	return 1
}
