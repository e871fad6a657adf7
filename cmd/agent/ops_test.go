package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
)

func TestPlanPipelines(t *testing.T) {
	p := func(name, topic string) config.Pipeline {
		return config.Pipeline{Name: name, Topic: topic, Paths: []string{"/var/log/" + name + "/*.log"}}
	}
	globs := p("b", "t")
	globs.Paths = append(globs.Paths, "/srv/b/*.log")
	for _, tc := range []struct {
		name          string
		running, next []config.Pipeline
		want          pipelinePlan
	}{
		{"identical", []config.Pipeline{p("a", "t"), p("b", "t")}, []config.Pipeline{p("a", "t"), p("b", "t")},
			pipelinePlan{unchanged: []string{"a", "b"}}},
		{"reordered is unchanged", []config.Pipeline{p("a", "t"), p("b", "t")}, []config.Pipeline{p("b", "t"), p("a", "t")},
			pipelinePlan{unchanged: []string{"b", "a"}}},
		{"added and removed", []config.Pipeline{p("a", "t"), p("b", "t")}, []config.Pipeline{p("a", "t"), p("c", "t")},
			pipelinePlan{added: []string{"c"}, removed: []string{"b"}, unchanged: []string{"a"}}},
		{"glob added is a change", []config.Pipeline{p("a", "t"), p("b", "t")}, []config.Pipeline{p("a", "t"), globs},
			pipelinePlan{changed: []string{"b"}, unchanged: []string{"a"}}},
		{"topic changed", []config.Pipeline{p("a", "t")}, []config.Pipeline{p("a", "u")},
			pipelinePlan{changed: []string{"a"}}},
		{"renamed is removed plus added", []config.Pipeline{p("a", "t")}, []config.Pipeline{p("z", "t")},
			pipelinePlan{added: []string{"z"}, removed: []string{"a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planPipelines(tc.running, tc.next)
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"added", got.added, tc.want.added}, {"removed", got.removed, tc.want.removed},
				{"changed", got.changed, tc.want.changed}, {"unchanged", got.unchanged, tc.want.unchanged}} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestRestartKeys(t *testing.T) {
	base := func() *config.Config {
		return &config.Config{
			Agent: config.Agent{DataDir: "/var/lib/logship", LogLevel: "info", MemoryLimit: 32 * config.MiB},
			HTTP:  config.HTTP{Listen: "127.0.0.1:9520", ReadyStall: 30 * time.Second},
			Kafka: config.Kafka{Brokers: []string{"a:9092"}, SASL: config.SASL{Password: "s3cret"}},
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*config.Config)
		want   []string
	}{
		{"nothing", func(*config.Config) {}, nil},
		{"log level applies live", func(c *config.Config) { c.Agent.LogLevel = "debug" }, nil},
		{"pipelines are not restart keys", func(c *config.Config) { c.Pipelines = []config.Pipeline{{Name: "x"}} }, nil},
		{"brokers and data_dir", func(c *config.Config) {
			c.Kafka.Brokers = []string{"b:9092"}
			c.Agent.DataDir = "/tmp/x"
		}, []string{"agent.data_dir", "kafka.brokers"}},
		{"nested secret named, not shown", func(c *config.Config) { c.Kafka.SASL.Password = "other" }, []string{"kafka.sasl.password"}},
		{"http", func(c *config.Config) { c.HTTP.Listen = ""; c.HTTP.PProf = true }, []string{"http.listen", "http.pprof"}},
		{"memory limit", func(c *config.Config) { c.Agent.MemoryLimit = 64 * config.MiB }, []string{"agent.memory_limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := base()
			tc.mutate(next)
			if got := restartKeys(base(), next); !slices.Equal(got, tc.want) {
				t.Errorf("restartKeys = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLogFormat(t *testing.T) {
	// A pseudo-terminal master answers termios ioctls like a terminal;
	// /dev/null is a character device that is not a terminal.
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err == nil {
		defer tty.Close()
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for _, tc := range []struct {
		format string
		w      func() *os.File
		json   bool
	}{
		{"json", nil, true},
		{"text", nil, false},
		{"auto", nil, true}, // a pipe or a file: JSON
		{"auto", func() *os.File { return tty }, false},
		{"auto", func() *os.File { return devNull }, true},
	} {
		t.Run(tc.format, func(t *testing.T) {
			if tc.w != nil {
				w := tc.w()
				if w == nil {
					t.Skip("no pseudo-terminal: /dev/ptmx cannot be opened")
				}
				h := newLogger(config.Agent{LogFormat: tc.format}, new(slog.LevelVar), w).Handler()
				if _, isText := h.(*slog.TextHandler); isText == tc.json {
					t.Errorf("auto on %s: handler %T, want JSON=%v", w.Name(), h, tc.json)
				}
				return
			}
			f, err := os.Create(filepath.Join(t.TempDir(), "log"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			level := new(slog.LevelVar)
			log := newLogger(config.Agent{LogFormat: tc.format, LogLevel: "warn"}, level, f)
			log.Info("hidden")
			log.Warn("shown", "k", "v")
			level.Set(slog.LevelDebug) // a reload changes the level of the live logger
			log.Debug("now shown")
			b, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			out := string(b)
			if strings.Contains(out, "hidden") || !strings.Contains(out, "shown") || !strings.Contains(out, "now shown") {
				t.Errorf("level not honoured:\n%s", out)
			}
			if isJSON := strings.HasPrefix(out, "{"); isJSON != tc.json {
				t.Errorf("log_format %s: JSON=%v, want %v:\n%s", tc.format, isJSON, tc.json, out)
			}
		})
	}
}

func TestRenderStatus(t *testing.T) {
	now := time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)
	doc := statusDoc{
		Source: "agent", Version: "v1.2.3", Now: now, Started: now.Add(-2 * time.Hour), Ready: true,
		LastAck: now.Add(-300 * time.Millisecond), InflightBytes: 3 << 20,
		Pipelines: []pipelineStatus{
			{Name: "app", Topic: "logs.app", Files: []fileStatus{
				{Path: "/var/log/app/a.log", Offset: 1000, Size: 1500, Unshipped: 500, Pending: 3, LastAck: now.Add(-1200 * time.Millisecond), State: "shipping"},
				{Path: "/var/log/app/b.log", Offset: 20, Size: 20, State: "idle"},
			}, Unlisted: []dirStatus{
				{Path: "/var/log/app/private", Reason: "dir_permission", Error: "permission denied", Since: now.Add(-3 * time.Second)},
			}},
			{Name: "empty", Files: []fileStatus{}},
		},
	}
	var b bytes.Buffer
	if err := renderStatus(&b, doc); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"logship v1.2.3, up 2h0m0s, ready",
		"last acknowledgement 300ms ago, 3.0 MiB in flight",
		"PIPELINE  PATH                OFFSET  SIZE  UNSHIPPED  LAST ACK  STATE\n",
		"app       /var/log/app/a.log  1000    1500  500        1.2s ago  shipping\n",
		"app       /var/log/app/b.log  20      20    0          -         idle\n",
		"empty     (no files)\n",
		"app: cannot list /var/log/app/private (permission denied) for 3s: its files keep their state",
		"pipelines: 2, files: 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	doc.Ready, doc.NotReady = false, "no broker answered for 31s (ready_stall 30s)"
	b.Reset()
	if err := renderStatus(&b, doc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "NOT READY: no broker answered for 31s") {
		t.Errorf("not-ready reason missing:\n%s", b.String())
	}
}

// TestStatusCommand runs `logship status` against a stand-in agent endpoint
// and, once it is gone, against the checkpoint file.
func TestStatusCommand(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "a.log")
	if err := os.WriteFile(logPath, []byte("0123456789\n0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	dataDir := filepath.Join(dir, "data")
	store, err := checkpoint.Open(dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save([]checkpoint.FileState{
		{Pipeline: "app", Path: logPath, Device: uint64(sys.Dev), Inode: sys.Ino, Offset: 11, Size: 22, Updated: time.Now()},
		{Pipeline: "app", Path: filepath.Join(dir, "gone.log"), Device: 1, Inode: 1, Offset: 5, Size: 5, Updated: time.Now()},
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, `agent: {data_dir: %q}
http: {listen: %q}
kafka: {brokers: ["127.0.0.1:9092"]}
pipelines:
  - {name: app, paths: [%q], topic: logs.app}
`, dataDir, ln.Addr().String(), filepath.Join(dir, "*.log")), 0o600); err != nil {
		t.Fatal(err)
	}

	live := statusDoc{Source: "agent", Version: "test", Now: time.Now(), Ready: true, Pipelines: []pipelineStatus{
		{Name: "app", Topic: "logs.app", Files: []fileStatus{{Path: logPath, Offset: 22, Size: 22, State: "idle"}}},
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(live)
	})}
	served := make(chan error, 1)
	// Exits when srv is closed below.
	go func() { served <- srv.Serve(ln) }()

	var out, errb bytes.Buffer
	if code := run([]string{"status", "-config", cfgPath}, &out, &errb); code != exitOK {
		t.Fatalf("status exit %d: %s", code, errb.String())
	}
	if s := out.String(); !strings.Contains(s, "logship test") || !strings.Contains(s, logPath+"  22") || strings.Contains(s, "stopped agent") {
		t.Errorf("live status:\n%s", s)
	}
	out.Reset()
	if code := run([]string{"status", "-config", cfgPath, "-json"}, &out, &errb); code != exitOK {
		t.Fatalf("status -json exit %d: %s", code, errb.String())
	}
	var doc statusDoc
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.Source != "agent" || len(doc.Pipelines) != 1 {
		t.Errorf("status -json: %v\n%s", err, out.String())
	}

	srv.Close()
	<-served
	out.Reset()
	if code := run([]string{"status", "-config", cfgPath}, &out, &errb); code != exitStale {
		t.Fatalf("status of a stopped agent exit %d, want %d (stale checkpoint): %s", code, exitStale, errb.String())
	}
	s := out.String()
	for _, want := range []string{
		"agent not reachable",
		"showing the last checkpoint of a stopped agent (" + filepath.Join(dataDir, checkpoint.FileName) + ")",
		logPath + "     11      22    11         -         stopped",
		"gone.log",
		"gone",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("stopped status lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	if code := run([]string{"status", "-config", cfgPath, "-json"}, &out, &errb); code != exitStale {
		t.Fatalf("status -json of a stopped agent exit %d, want %d", code, exitStale)
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.Source != "checkpoint" {
		t.Errorf("status -json of a stopped agent: %v\n%s", err, out.String())
	}

	out.Reset()
	if code := run([]string{"checkpoints", "-config", cfgPath, "-json"}, &out, &errb); code != exitOK {
		t.Fatalf("checkpoints -json exit %d: %s", code, errb.String())
	}
	var cps []checkpointEntry
	if err := json.Unmarshal(out.Bytes(), &cps); err != nil {
		t.Fatalf("checkpoints -json: %v\n%s", err, out.String())
	}
	if len(cps) != 2 {
		t.Fatalf("checkpoints -json: %d entries, want 2:\n%s", len(cps), out.String())
	}
	for _, e := range cps {
		switch e.Path {
		case logPath:
			if e.Offset != 11 || e.Size != 22 || e.Unshipped != 11 || e.Inode != sys.Ino {
				t.Errorf("checkpoints -json entry %+v, want offset 11, size 22, unshipped 11", e)
			}
		default:
			if e.Size != -1 {
				t.Errorf("checkpoints -json: gone file %+v has size %d, want -1", e, e.Size)
			}
		}
	}
}
