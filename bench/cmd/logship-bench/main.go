// Command logship-bench measures logship side by side with kcat (librdkafka)
// against a real single-node Kafka broker started by internal/kafkatest. It
// is a benchmark, not a test: it reports figures and ratios and asserts
// nothing about speed, but every run is checked by an independent consumer
// (kcat -C) and a run whose lines did not all arrive fails the benchmark.
//
// Modes (-modes, comma separated; default all but profile):
//
//	backlog  a file of -lines numbered 200-byte lines, shipped from the
//	         beginning by logship and by `kcat -P -l`, alternating, -rounds
//	         times each, each into a fresh topic: lines/s and MB/s until the
//	         last line is acknowledged, CPU s per GB, peak RSS.
//	latency  a writer appends -rate lines/s to a live file for -latency-dur;
//	         delay = broker LogAppendTime − write time, p50/p99/max, for
//	         logship and for `tail -F | kcat -P`.
//	scale    logship on backlogs of -scale-small and -scale-large lines: CPU
//	         per million lines and the ratio.
//	files    logship following -files files each written at -files-rate
//	         lines/s: CPU % of one core and RSS.
//	catchup  the broker is paused, a backlog of -catchup-lines is handed
//	         to logship (appended to a followed file once its budget is
//	         full) and to `kcat -P -l`, the broker resumes: drain time and
//	         peak RSS (VmRSS sampled every 100 ms, and VmHWM / ru_maxrss).
//	profile  one logship backlog run of a binary built with -tags
//	         benchprofile; writes cpu.pprof and allocs.pprof and their top
//	         lists to the output directory.
//
// Usage: make build && go run ./bench/cmd/logship-bench [flags] (or make bench).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/logship/logship/internal/kafkatest"
)

type options struct {
	lines      int
	rounds     int
	modes      map[string]bool
	partitions int
	bin        string
	kcat       string
	out        string
	rate       int
	latencyDur time.Duration
	scaleSmall int
	scaleLarge int
	files      int
	filesRate  int
	filesDur   time.Duration
	keep       bool
	memLimit   string
	// catchupLines is the backlog of the catch-up mode.
	catchupLines int
	// profileFiles runs the files mode with a benchprofile build and
	// writes files-cpu.pprof / files-allocs.pprof.
	profileFiles bool
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	var modes string
	quick := flag.Bool("quick", false, "small sizes for a smoke run (200k lines, 1 round, 10s latency, 100k/400k scale, 15s files)")
	flag.IntVar(&o.lines, "lines", 2_000_000, "backlog mode: lines in the file")
	flag.IntVar(&o.rounds, "rounds", 3, "backlog mode: runs of each tool, alternating")
	flag.StringVar(&modes, "modes", "backlog,latency,scale,files,catchup", "comma-separated modes: backlog,latency,scale,files,catchup,profile")
	flag.IntVar(&o.catchupLines, "catchup-lines", 1_000_000, "catchup mode: lines (200 bytes each) written while the broker is paused")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions of every topic")
	flag.StringVar(&o.bin, "bin", "bin/logship", "logship binary (build it with make build: no race detector)")
	flag.StringVar(&o.kcat, "kcat", "kcat", "kcat binary (reference producer and the independent consumer)")
	flag.StringVar(&o.out, "out", "bench/out", "directory for results-<timestamp>.md and profiles")
	flag.IntVar(&o.rate, "rate", 20_000, "latency mode: lines per second")
	flag.DurationVar(&o.latencyDur, "latency-dur", 30*time.Second, "latency mode: how long the writer writes")
	flag.IntVar(&o.scaleSmall, "scale-small", 1_000_000, "scale mode: small backlog lines")
	flag.IntVar(&o.scaleLarge, "scale-large", 4_000_000, "scale mode: large backlog lines")
	flag.IntVar(&o.files, "files", 1000, "files mode: number of files")
	flag.IntVar(&o.filesRate, "files-rate", 10, "files mode: lines per second per file")
	flag.DurationVar(&o.filesDur, "files-dur", 60*time.Second, "files mode: measured interval (after a 10s warm-up)")
	flag.StringVar(&o.memLimit, "memory-limit", "", "logship agent.memory_limit (default: the agent's default, 32MiB)")
	flag.BoolVar(&o.profileFiles, "profile-files", false, "files mode: profile logship (files-cpu.pprof, files-allocs.pprof in -out)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (generated files, agent logs, broker data)")
	flag.Parse()
	if *quick {
		// Explicit flags win over the quick sizes.
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"lines": "200000", "rounds": "1", "latency-dur": "10s",
			"scale-small": "100000", "scale-large": "400000", "files-dur": "15s", "catchup-lines": "200000"} {
			if !set[name] {
				_ = flag.Set(name, v)
			}
		}
	}
	o.modes = map[string]bool{}
	for _, m := range strings.Split(modes, ",") {
		m = strings.TrimSpace(m)
		switch m {
		case "backlog", "latency", "scale", "files", "catchup", "profile":
			o.modes[m] = true
		case "":
		default:
			fmt.Fprintf(os.Stderr, "logship-bench: unknown mode %q\n", m)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "logship-bench: FAILED:", err)
		return 1
	}
	return 0
}

// env is what every mode shares.
type env struct {
	o       options
	cluster *kafkatest.Cluster
	broker  *broker
	work    string
	topics  int
	report  *report
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func bench(ctx context.Context, o options) error {
	kcat, err := exec.LookPath(o.kcat)
	if err != nil {
		return fmt.Errorf("kcat not found (%v): install it with `apt-get install kcat` (scripts/setup); "+
			"it is the reference producer and the independent consumer of this benchmark", err)
	}
	o.kcat = kcat
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("logship binary %s: %w (run make build)", o.bin, err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "logship-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("work dir (kept): %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	e := &env{o: o, work: work, report: newReport(o)}
	e.report.machine = describeMachine(o)

	logf("starting Kafka %s (single node)", kafkatest.KafkaVersion)
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	c, err := kafkatest.Start(startCtx, kafkatest.Options{Nodes: 1, Dir: filepath.Join(work, "kafka"), Keep: o.keep,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	e.cluster = c
	e.broker = newBroker(c.Bootstrap())
	logf("kafka up at %s", c.Bootstrap())

	started := time.Now()
	steps := []struct {
		mode string
		fn   func(context.Context, *env) error
	}{
		{"backlog", runBacklogMode},
		{"latency", runLatencyMode},
		{"scale", runScaleMode},
		{"files", runFilesMode},
		{"catchup", runCatchupMode},
		{"profile", runProfileMode},
	}
	var failed []string
	for _, s := range steps {
		if !o.modes[s.mode] {
			continue
		}
		if err := s.fn(ctx, e); err != nil {
			logf("%s mode FAILED: %v", s.mode, err)
			e.report.failures = append(e.report.failures, fmt.Sprintf("%s: %v", s.mode, err))
			failed = append(failed, s.mode)
			if ctx.Err() != nil {
				break
			}
		}
	}
	e.report.elapsed = time.Since(started)
	e.report.loadEnd = loadAvg()
	text := e.report.markdown()
	fmt.Println(text)
	path := filepath.Join(o.out, "results-"+time.Now().Format("20060102-150405")+".md")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return err
	}
	logf("results written to %s", path)
	if len(failed) > 0 {
		return fmt.Errorf("modes failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// newTopic creates a fresh topic with the bench's partition count.
func (e *env) newTopic(ctx context.Context, prefix string, configs map[string]string) (string, error) {
	e.topics++
	name := fmt.Sprintf("bench-%s-%d", prefix, e.topics)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return name, e.cluster.CreateTopic(ctx, name, e.o.partitions, 1, configs)
}
