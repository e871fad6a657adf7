package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is the smallest valid configuration. Lines:
//
//	1 agent:
//	2   data_dir: /var/lib/logship
//	3 kafka:
//	4   brokers: ["localhost:9092"]
//	5 pipelines:
//	6   - name: app
//	7     paths: ["/var/log/app/*.log"]
//	8     topic: logs.app
const base = `agent:
  data_dir: /var/lib/logship
kafka:
  brokers: ["localhost:9092"]
pipelines:
  - name: app
    paths: ["/var/log/app/*.log"]
    topic: logs.app
`

// doc returns base with extra lines appended to the agent, kafka and first
// pipeline sections (each line given without the section's indentation).
func doc(agent, kafka, pipeline string) string {
	indent := func(s, pfx string) string {
		if s == "" {
			return ""
		}
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		for i, l := range lines {
			lines[i] = pfx + l
		}
		return strings.Join(lines, "\n") + "\n"
	}
	return "agent:\n  data_dir: /var/lib/logship\n" + indent(agent, "  ") +
		"kafka:\n  brokers: [\"localhost:9092\"]\n" + indent(kafka, "  ") +
		"pipelines:\n  - name: app\n    paths: [\"/var/log/app/*.log\"]\n    topic: logs.app\n" + indent(pipeline, "    ")
}

// errorList splits a Parse error into its FieldErrors.
func errorList(t *testing.T, err error) []*FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not a joined error: %v", err, err)
	}
	var out []*FieldError
	for _, e := range j.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %T is not a *FieldError: %v", e, e)
		}
		out = append(out, fe)
	}
	return out
}

// wantErrors checks that err holds exactly one problem per want entry, each
// containing its want string, in order.
func wantErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	got := errorList(t, err)
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(got[i].Error(), w) {
			t.Errorf("error %d = %q, want it to contain %q\nall:\n%v", i, got[i].Error(), w, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Skipf("no hostname: %v", err)
	}
	cfg, err := Parse("agent.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Agent: Agent{Host: host, DataDir: "/var/lib/logship", MemoryLimit: 32 * MiB, ShutdownTimeout: 30 * time.Second,
			CheckpointInterval: time.Second, LogLevel: "info", LogFormat: "auto"},
		HTTP: HTTP{Listen: "127.0.0.1:9520", ReadyStall: 30 * time.Second},
		Kafka: Kafka{Brokers: []string{"localhost:9092"}, ClientID: "logship", Acks: "all", Compression: "lz4",
			Linger: 10 * time.Millisecond, BatchBytes: MiB, MaxRecordBytes: MiB, RequestTimeout: 30 * time.Second,
			RetryBackoff: 100 * time.Millisecond, RetryBackoffMax: 10 * time.Second, MetadataRefresh: 5 * time.Second,
			OversizeRecord: "split", DeadLetterDir: "/var/lib/logship/dead-letter", DeadLetterMaxBytes: 64 * MiB},
		Pipelines: []Pipeline{{Name: "app", Paths: []string{"/var/log/app/*.log"}, StartAt: "beginning", Format: "raw",
			ForgetAfter: 24 * time.Hour, MaxOpenFiles: 4096,
			MaxLineBytes: MiB, OversizePolicy: "split", Topic: "logs.app", Key: "host", Partitioner: "hash",
			Serializer: "raw", RescanInterval: 5 * time.Second, CloseInactive: 5 * time.Second, SourceHeaders: true}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %#v\nwant %#v", cfg, want)
	}
}

func TestExplicitValuesWin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		check func(*Config) bool
	}{
		{"empty listen disables http", "http: {listen: \"\"}\n" + base, func(c *Config) bool { return c.HTTP.Listen == "" }},
		{"null listen keeps default", "http: {listen: }\n" + base, func(c *Config) bool { return c.HTTP.Listen == DefaultListen }},
		{"absent http keeps default", base, func(c *Config) bool { return c.HTTP.Listen == DefaultListen }},
		{"sizes", doc("memory_limit: 64MiB", "batch_bytes: 512KiB\nmax_record_bytes: 4096", "max_line_bytes: 2048"),
			func(c *Config) bool {
				return c.Agent.MemoryLimit == 64*MiB && c.Kafka.BatchBytes == 512*KiB && c.Kafka.MaxRecordBytes == 4096 &&
					c.Pipelines[0].MaxLineBytes == 2048
			}},
		{"decimal units", doc("memory_limit: 1GB", "", ""), func(c *Config) bool { return c.Agent.MemoryLimit == 1e9 }},
		{"linger zero", doc("", "linger: 0s", ""), func(c *Config) bool { return c.Kafka.Linger == 0 }},
		{"multiline defaults when enabled", doc("", "", "multiline: {start_pattern: '^\\d'}"),
			func(c *Config) bool {
				m := c.Pipelines[0].Multiline
				return m.StartPattern == `^\d` && m.MaxLines == 500 && m.Timeout == 2*time.Second
			}},
		{"multiline explicit", doc("", "", "multiline: {start_pattern: '^\\d', max_lines: 3, timeout: 1s}"),
			func(c *Config) bool {
				m := c.Pipelines[0].Multiline
				return m.MaxLines == 3 && m.Timeout == time.Second
			}},
		{"multiline zero when off", base, func(c *Config) bool { return c.Pipelines[0].Multiline == Multiline{} }},
		{"tls enabled by a file", doc("", "tls: {ca_file: /etc/ca.pem}", ""), func(c *Config) bool { return c.Kafka.TLS.Enabled }},
		{"fixed partition", doc("", "", "partitioner: fixed\npartition: 3"),
			func(c *Config) bool { return c.Pipelines[0].Partitioner == "fixed" && c.Pipelines[0].Partition == 3 }},
		{"unsafe acks allowed explicitly", doc("", "acks: leader\nallow_unsafe_acks: true", ""),
			func(c *Config) bool { return c.Kafka.Acks == "leader" }},
		{"second pipeline gets its own defaults", base + "  - name: b\n    paths: [/b/*]\n    topic: b\n    format: cri\n",
			func(c *Config) bool {
				return len(c.Pipelines) == 2 && c.Pipelines[0].Format == "raw" && c.Pipelines[1].Format == "cri" &&
					c.Pipelines[1].Key == "host"
			}},
		{"merge key in a pipeline", "kafka: {brokers: [\"k:9092\"]}\npipelines:\n  - &a {name: a, paths: [/a/*], topic: t, format: cri, key: none}\n  - <<: *a\n    name: b\n    paths: [/b/*]\n",
			func(c *Config) bool {
				return len(c.Pipelines) == 2 && c.Pipelines[1].Name == "b" && c.Pipelines[1].Format == "cri" &&
					c.Pipelines[1].Key == "none" && c.Pipelines[1].Topic == "t" && c.Pipelines[1].Paths[0] == "/b/*"
			}},
		{"alias", "kafka: {brokers: [\"k:9092\"]}\npipelines:\n  - {name: a, paths: [/a/*], exclude: &e [\"*.gz\"], topic: t}\n  - {name: b, paths: [/b/*], exclude: *e, topic: t}\n",
			func(c *Config) bool { return c.Pipelines[1].Exclude[0] == "*.gz" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("agent.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("unexpected config: %#v", cfg)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"empty file", "", []string{"agent.yaml: empty configuration file"}},
		{"only comments", "# nothing here\n\n", []string{"agent.yaml: empty configuration file"}},
		{"null document", "---\n~\n", []string{"empty configuration file"}},
		{"two documents", base + "---\n" + base, []string{"agent.yaml:9: more than one YAML document"}},
		{"empty second document", base + "---\n", []string{"more than one YAML document"}},
		{"top level list", "- a\n- b\n", []string{"agent.yaml:1: the top level must be a mapping"}},
		{"syntax error", "agent:\n  host: a\n   data_dir: b\n", []string{"agent.yaml:3: invalid YAML: mapping values are not allowed"}},
		{"syntax error in second document", base + "---\n[\n", []string{"agent.yaml:10: invalid YAML"}},
		{"unknown top-level key", "agnet: {}\n" + base, []string{`agent.yaml:1: agnet: unknown key "agnet" (did you mean "agent"?)`}},
		{"unknown nested key", doc("", "tls:\n  ca_fiel: /x", ""), []string{`agent.yaml:6: kafka.tls.ca_fiel: unknown key "ca_fiel" (did you mean "ca_file"?)`}},
		{"unknown pipeline key", doc("", "", "topik: x"), []string{`agent.yaml:9: pipelines[0].topik: unknown key "topik"`}},
		{"unknown key in merged mapping", "kafka: {brokers: [\"k:9092\"]}\npipelines:\n  - <<: {nmae: x}\n    name: a\n    paths: [/a]\n    topic: t\n",
			[]string{`agent.yaml:3: pipelines[0].nmae: unknown key "nmae"`}},
		{"unknown multiline key", doc("", "", "multiline:\n  start_pattern: x\n  max_line: 3"), []string{`agent.yaml:11: pipelines[0].multiline.max_line: unknown key`}},
		{"duplicate key", doc("", "", "topic: again"), []string{`agent.yaml:9: pipelines[0].topic: duplicate key "topic" (first defined at line 8)`}},
		{"duplicate field", doc("", "", "fields: {a: 1, a: 2}"), []string{`agent.yaml:9: pipelines[0].fields.a: duplicate key "a"`}},
		{"list where mapping expected", "agent: [a]\n" + base, []string{"agent.yaml:1: agent: expected a mapping, got a list"}},
		{"string where list expected", doc("", "", "exclude: \"*.gz\""), []string{"agent.yaml:9: pipelines[0].exclude: expected a list, got a string"}},
		{"mapping where string expected", doc("", "client_id: {a: b}", ""), []string{"agent.yaml:5: kafka.client_id: expected a string, got a mapping"}},
		{"pipelines as mapping", "kafka: {brokers: [\"k:9092\"]}\npipelines: {name: a}\n", []string{"agent.yaml:2: pipelines: expected a list, got a mapping"}},
		{"wrong integer", doc("", "", "partitioner: fixed\npartition: abc"), []string{`agent.yaml:10: pipelines[0].partition: expected an integer (int32), got a string "abc"`}},
		{"integer overflow", doc("", "", "partitioner: fixed\npartition: 99999999999"), []string{`pipelines[0].partition: expected an integer (int32), got an integer`}},
		{"wrong bool", doc("", "allow_unsafe_acks: maybe", ""), []string{`agent.yaml:5: kafka.allow_unsafe_acks: expected true or false, got a string "maybe"`}},
		{"bad size", doc("memory_limit: lots", "", ""), []string{`agent.yaml:3: agent.memory_limit: invalid size "lots"`}},
		{"fractional size", doc("memory_limit: 1.5GiB", "", ""), []string{`agent.memory_limit: invalid size "1.5GiB"`}},
		{"negative size", doc("memory_limit: -1", "", ""), []string{`agent.memory_limit: invalid size "-1"`}},
		{"size as list", doc("memory_limit: [1]", "", ""), []string{`agent.memory_limit: expected a size such as "32MiB", got a list`}},
		{"integer duration", doc("", "linger: 5", ""), []string{`agent.yaml:5: kafka.linger: durations need a unit: write "5s", not 5`}},
		{"zero duration", doc("shutdown_timeout: 0", "", ""), []string{`agent.shutdown_timeout: durations need a unit: write "0s", not 0`}},
		{"day duration", doc("", "", "close_inactive: 1d"), []string{`agent.yaml:9: pipelines[0].close_inactive: invalid duration "1d"`}},
		{"unsupported tag", doc("", "", "topic2: !!int x"), []string{`unknown key "topic2"`}},
		{"explicit tag mismatch", doc("", "client_id: !!int abc", ""), []string{`agent.yaml:5: kafka.client_id: unsupported tag !!int`}},
		{"tagged key", doc("", "", "!!int topic: x\nfields: {!!binary a: b}"),
			[]string{"agent.yaml:9: pipelines[0].topic: keys must be plain strings", "agent.yaml:10: pipelines[0].fields.a: keys must be plain strings"}},
		{"non-scalar key", doc("", "", "? [a]\n: b"), []string{"agent.yaml:9: pipelines[0].<a list>: keys must be plain strings"}},
		{"bad merge value", doc("", "", "<<: [a]"), []string{`agent.yaml:9: pipelines[0].<<: "<<" needs a mapping`}},
		{"merge at top level", "x: &x {http: {}}\n<<: *x\n" + base, []string{`agent.yaml:1: x: unknown key`, `agent.yaml:2: merge keys ("<<") are not supported at the top level`}},
		{"null pipeline item", "kafka: {brokers: [\"k:9092\"]}\npipelines:\n  -\n  - {name: b, paths: [/b], topic: t}\n",
			[]string{"agent.yaml:3: pipelines[0].name: required", "agent.yaml:3: pipelines[0].paths: at least one", "agent.yaml:3: pipelines[0].topic: required"}},
		{"scalar pipeline item keeps indices", "kafka: {brokers: [\"k:9092\"]}\npipelines:\n  - oops\n  - {name: b, paths: [b], topic: t}\n",
			[]string{"agent.yaml:3: pipelines[0]: expected a mapping, got a string", "agent.yaml:4: pipelines[1].paths[0]: must be an absolute path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("agent.yaml", []byte(tt.yaml))
			if cfg != nil {
				t.Errorf("got a config along with errors")
			}
			wantErrors(t, err, tt.want...)
		})
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("LS_TOPIC", "logs.env")
	t.Setenv("LS_EMPTY", "")
	t.Setenv("LS_PART", "7")
	t.Setenv("LS_TRUE", "true")
	t.Setenv("LS_SIZE", "2MiB")
	t.Setenv("LS_INJECT", "x\nkafka: {brokers: []}") // must stay one string value
	tests := []struct {
		name  string
		yaml  string
		check func(*Config) bool
		want  []string // errors
	}{
		{"string", doc("", "", "fields: {t: \"${LS_TOPIC}\"}"), func(c *Config) bool { return c.Pipelines[0].Fields["t"] == "logs.env" }, nil},
		{"plain scalar", doc("host: ${LS_TOPIC}", "", ""), func(c *Config) bool { return c.Agent.Host == "logs.env" }, nil},
		{"embedded in a path", "kafka: {brokers: [\"k:9092\"]}\npipelines: [{name: a, paths: [\"/var/${LS_TOPIC}/*.log\"], topic: t}]\n",
			func(c *Config) bool { return c.Pipelines[0].Paths[0] == "/var/logs.env/*.log" }, nil},
		{"default used when unset", doc("", "", "fields: {e: \"${LS_UNSET_VAR:-dev}\"}"), func(c *Config) bool { return c.Pipelines[0].Fields["e"] == "dev" }, nil},
		{"default used when empty", doc("", "", "fields: {e: \"${LS_EMPTY:-dev}\"}"), func(c *Config) bool { return c.Pipelines[0].Fields["e"] == "dev" }, nil},
		{"default ignored when set", doc("", "", "fields: {e: \"${LS_TOPIC:-dev}\"}"), func(c *Config) bool { return c.Pipelines[0].Fields["e"] == "logs.env" }, nil},
		{"empty default", doc("", "", "fields: {e: \"a${LS_UNSET_VAR:-}b\"}"), func(c *Config) bool { return c.Pipelines[0].Fields["e"] == "ab" }, nil},
		{"set but empty", doc("", "", "fields: {e: \"${LS_EMPTY}\"}"), func(c *Config) bool { return c.Pipelines[0].Fields["e"] == "" }, nil},
		{"empty value is not null", "http:\n  listen: ${LS_EMPTY}\n" + base, func(c *Config) bool { return c.HTTP.Listen == "" }, nil},
		{"dollar escape", doc("", "", "fields: {p: \"$${LS_TOPIC} costs $$5\"}"), func(c *Config) bool { return c.Pipelines[0].Fields["p"] == "${LS_TOPIC} costs $5" }, nil},
		{"lone dollar kept", doc("", "", "multiline: {start_pattern: '^a$'}"), func(c *Config) bool { return c.Pipelines[0].Multiline.StartPattern == "^a$" }, nil},
		{"integer", doc("", "", "partitioner: fixed\npartition: ${LS_PART}"), func(c *Config) bool { return c.Pipelines[0].Partition == 7 }, nil},
		{"bool", doc("", "acks: leader\nallow_unsafe_acks: ${LS_TRUE}", ""), func(c *Config) bool { return c.Kafka.AllowUnsafeAcks }, nil},
		{"size", doc("", "batch_bytes: ${LS_SIZE}", ""), func(c *Config) bool { return c.Kafka.BatchBytes == 2*MiB }, nil},
		{"duration default", doc("", "linger: ${LS_UNSET_VAR:-50ms}", ""), func(c *Config) bool { return c.Kafka.Linger == 50*time.Millisecond }, nil},
		{"list item", "kafka: {brokers: [\"${LS_UNSET_VAR:-k:9092}\"]}\npipelines: [{name: a, paths: [/a], topic: t}]\n",
			func(c *Config) bool { return c.Kafka.Brokers[0] == "k:9092" }, nil},
		{"no injection", doc("", "", "fields: {i: \"${LS_INJECT}\"}"), func(c *Config) bool { return c.Pipelines[0].Fields["i"] == "x\nkafka: {brokers: []}" }, nil},
		{"keys are not expanded", doc("", "", "fields: {\"${LS_TOPIC}\": v}"), func(c *Config) bool { _, ok := c.Pipelines[0].Fields["${LS_TOPIC}"]; return ok }, nil},
		{"missing variable", doc("", "", "topic2: x\nfields:\n  a: ${LS_UNSET_VAR}"), nil,
			[]string{`agent.yaml:9: pipelines[0].topic2: unknown key`, `agent.yaml:11: pipelines[0].fields.a: environment variable LS_UNSET_VAR is not set`}},
		{"missing in size", doc("memory_limit: ${LS_UNSET_VAR}", "", ""), nil, []string{`agent.yaml:3: agent.memory_limit: environment variable LS_UNSET_VAR is not set`}},
		{"unterminated", doc("host: ${LS_TOPIC", "", ""), nil, []string{`agent.yaml:3: agent.host: unterminated "${"`}},
		{"bad name", doc("host: ${1X}", "", ""), nil, []string{`agent.yaml:3: agent.host: invalid "${...}" reference`}},
		{"expanded value validated", doc("", "", "format: ${LS_TOPIC}"), nil, []string{`agent.yaml:9: pipelines[0].format: invalid value "logs.env"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("agent.yaml", []byte(tt.yaml))
			if tt.want != nil {
				wantErrors(t, err, tt.want...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("unexpected config: %#v", cfg)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "1", "E": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want string
		err      bool
	}{
		{"plain", "plain", false},
		{"${A}", "1", false},
		{"x${A}y${A}", "x1y1", false},
		{"${B:-d}", "d", false},
		{"${E:-d}", "d", false},
		{"${A:-d}", "1", false},
		{"${B:-a:-b}", "a:-b", false},
		{"$$", "$", false},
		{"$$$$", "$$", false},
		{"$${A}", "${A}", false},
		{"$", "$", false},
		{"a$b", "a$b", false},
		{"${B}", "", true},
		{"${", "", true},
		{"${}", "", true},
		{"${A B}", "", true},
		{"${A-d}", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expand(tt.in, lookup)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("expand(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

const testSecret = "s3cr3t-hunter2-value"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPasswordFile(t *testing.T) {
	sasl := func(extra string) string {
		return doc("", "tls: {enabled: true}\nsasl:\n  mechanism: scram-sha-512\n  username: agent\n"+extra, "")
	}
	t.Run("read and trimmed", func(t *testing.T) {
		for _, content := range []string{testSecret + "\n", testSecret + "\r\n", testSecret} {
			p := writeFile(t, "pw", content)
			cfg, err := Parse("agent.yaml", []byte(sasl("  password_file: "+p)))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Kafka.SASL.Password.Value() != testSecret {
				t.Errorf("password = %q", cfg.Kafka.SASL.Password.Value())
			}
		}
	})
	t.Run("from env", func(t *testing.T) {
		t.Setenv("LS_PW", testSecret)
		cfg, err := Parse("agent.yaml", []byte(sasl("  password: ${LS_PW}")))
		if err != nil {
			t.Fatal(err)
		}
		if string(cfg.Kafka.SASL.Password) != testSecret {
			t.Errorf("password not expanded")
		}
	})
	p := writeFile(t, "pw", testSecret+"\n")
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"both set", sasl("  password: " + testSecret + "\n  password_file: " + p),
			[]string{"agent.yaml:10: kafka.sasl.password_file: cannot be combined with kafka.sasl.password"}},
		{"missing file", sasl("  password_file: /nonexistent/pw"),
			[]string{"agent.yaml:9: kafka.sasl.password_file: read secret: stat /nonexistent/pw: no such file"}},
		{"directory", sasl("  password_file: " + filepath.Dir(p)), []string{"is not a regular file"}},
		{"empty file", sasl("  password_file: " + writeFile(t, "empty", "\n")), []string{"kafka.sasl.password_file: " + "/"}},
		{"no password", sasl(""), []string{"agent.yaml:6: kafka.sasl.password: required with mechanism scram-sha-512"}},
		{"secret with other errors", sasl("  password_file: "+p) + "    topic2: x\n    format: xml\n",
			[]string{"pipelines[0].topic2: unknown key", "pipelines[0].format: invalid value"}},
		{"secret in a tagged value", doc("", "sasl: {mechanism: plain, username: u, password: !!int "+testSecret+"}", ""),
			[]string{"kafka.sasl.password: unsupported tag !!int", "kafka.sasl.mechanism: plain sends the password in clear text"}},
		{"secret as a list", doc("", "sasl: {mechanism: plain, username: u, password: ["+testSecret+"]}", ""),
			[]string{"kafka.sasl.password: expected a string, got a list", "kafka.sasl.mechanism: plain sends"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte(tt.yaml))
			wantErrors(t, err, tt.want...)
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testSecret[:7]) {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
	t.Run("not in summary", func(t *testing.T) {
		cfg, err := Parse("agent.yaml", []byte(sasl("  password_file: "+p)))
		if err != nil {
			t.Fatal(err)
		}
		s := cfg.Summary()
		if strings.Contains(s, testSecret) || !strings.Contains(s, "password=[redacted]") || !strings.Contains(s, "password_file="+p) {
			t.Errorf("summary:\n%s", s)
		}
	})
}

func TestPipelineFieldAlignment(t *testing.T) {
	t.Parallel()
	// Every list item that cannot be decoded is replaced, not dropped, so
	// pipelines[i] in messages and Config.Pipelines[i] stay the same entry.
	y := "kafka: {brokers: [\"k:9092\"]}\npipelines:\n  - {name: a, paths: [/a, [x], ~], topic: t, topic: u}\n  - {name: b, paths: [/b], topic: t}\n"
	_, err := Parse("agent.yaml", []byte(y))
	wantErrors(t, err,
		"agent.yaml:3: pipelines[0].paths[1]: expected a string, got a list",
		`agent.yaml:3: pipelines[0].topic: duplicate key "topic"`,
		"agent.yaml:3: pipelines[0].paths[2]: empty pattern")
}

func TestAllErrorsAtOnce(t *testing.T) {
	t.Parallel()
	y := `agent:
  memory_limit: 512KiB
  log_level: loud
http:
  listen: "9520"
kafka:
  brokers: []
  acks: leader
  compression: brotli
pipelines:
  - name: App
    paths: ["var/log/*.log"]
    format: json
  - name: ok
    paths: ["/x/[.log"]
    topic: ".."
    partitioner: fixed
    partition: -1
`
	_, err := Parse("/etc/logship/agent.yaml", []byte(y))
	wantErrors(t, err,
		"/etc/logship/agent.yaml:2: agent.memory_limit: must be at least 1MiB, got 512KiB",
		"/etc/logship/agent.yaml:3: agent.log_level: invalid value \"loud\": must be one of debug, info, warn, error",
		"/etc/logship/agent.yaml:5: http.listen: invalid address \"9520\"",
		"/etc/logship/agent.yaml:7: kafka.brokers: at least one broker",
		"/etc/logship/agent.yaml:8: kafka.acks: acks \"leader\" can lose acknowledged lines",
		"/etc/logship/agent.yaml:9: kafka.compression: invalid value \"brotli\"",
		"/etc/logship/agent.yaml:11: pipelines[0].name: invalid name \"App\"",
		"/etc/logship/agent.yaml:11: pipelines[0].topic: required", // missing key: line of the enclosing mapping
		"/etc/logship/agent.yaml:12: pipelines[0].paths[0]: must be an absolute path",
		"/etc/logship/agent.yaml:13: pipelines[0].format: invalid value \"json\": must be one of raw, cri, docker",
		"/etc/logship/agent.yaml:15: pipelines[1].paths[0]: invalid glob \"/x/[.log\": syntax error in pattern",
		"/etc/logship/agent.yaml:16: pipelines[1].topic: \"..\" is not a valid Kafka topic name",
		"/etc/logship/agent.yaml:18: pipelines[1].partition: must be 0 or more, got -1",
	)
	for _, fe := range errorList(t, err) {
		if fe.File != "/etc/logship/agent.yaml" || fe.Line == 0 || fe.Key == "" {
			t.Errorf("incomplete position: %#v", fe)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "agent.yaml", base)
	if _, err := Load(p); err != nil {
		t.Fatal(err)
	}
	bad := writeFile(t, "bad.yaml", base+"bogus: 1\n")
	_, err := Load(bad)
	wantErrors(t, err, bad+":9: bogus: unknown key")
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("missing file: %v", err)
	}
}

// TestExampleConfig proves the documented agent.yaml at the repository root
// loads and means what its comments say.
func TestExampleConfig(t *testing.T) {
	t.Setenv("LOGSHIP_ENV", "test")
	cfg, err := Load(filepath.Join("..", "..", "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pipelines[0]
	if cfg.Kafka.Brokers[0] != "localhost:9092" || p.Name != "app" || p.Paths[0] != "/var/log/app/*.log" ||
		p.Fields["env"] != "test" || cfg.Kafka.Acks != "all" || cfg.HTTP.Listen != DefaultListen {
		t.Errorf("unexpected example config: %#v", cfg)
	}
	// Every explicit value in the example equals its default (the comments say so).
	def := defaultConfig(cfg.Agent.Host)
	if cfg.Agent != def.Agent || cfg.HTTP != def.HTTP || cfg.Kafka.Linger != def.Kafka.Linger ||
		cfg.Kafka.BatchBytes != def.Kafka.BatchBytes || cfg.Kafka.RetryBackoffMax != def.Kafka.RetryBackoffMax {
		t.Errorf("example differs from defaults: %#v", cfg)
	}
	dp := defaultPipeline()
	if p.StartAt != dp.StartAt || p.MaxLineBytes != dp.MaxLineBytes || p.RescanInterval != dp.RescanInterval ||
		p.CloseInactive != dp.CloseInactive || p.Partitioner != dp.Partitioner {
		t.Errorf("example pipeline differs from defaults: %#v", p)
	}
}
