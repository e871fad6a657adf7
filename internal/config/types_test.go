package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"0", 0, false},
		{"4096", 4096, false},
		{"4096B", 4096, false},
		{"512KiB", 512 << 10, false},
		{"32MiB", 32 << 20, false},
		{"32 MiB", 32 << 20, false},
		{" 1GiB ", 1 << 30, false},
		{"2TiB", 2 << 40, false},
		{"1kB", 1000, false},
		{"1KB", 1000, false},
		{"1MB", 1_000_000, false},
		{"1GB", 1_000_000_000, false},
		{"1TB", 1_000_000_000_000, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"1.5MiB", 0, true},
		{"-1", 0, true},
		{"+1", 0, true},
		{"1mib", 0, true},
		{"1 M", 0, true},
		{"0x10", 0, true},
		{"9223372036854775807", 1<<63 - 1, false},
		{"9223372036854775808", 0, true},
		{"8388608TiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	t.Parallel()
	for _, b := range []ByteSize{0, 1, 1000, 1024, 1500, 32 * MiB, 1_000_000, 3 * GiB, 5 * TiB, 1<<63 - 1} {
		s := b.String()
		back, err := ParseByteSize(s)
		if err != nil || back != b {
			t.Errorf("%d -> %q -> %d, %v", int64(b), s, back, err)
		}
	}
	if s := (32 * MiB).String(); s != "32MiB" {
		t.Errorf("String = %q", s)
	}
}

// TestByteSizeKeepsKnownFields verifies the property ByteSize relies on:
// yaml.v3 honours encoding.TextUnmarshaler for scalars (including plain
// integers) while a Decoder with KnownFields(true) still rejects unknown keys
// around and after it. (A yaml.Unmarshaler would lose that check.)
func TestByteSizeKeepsKnownFields(t *testing.T) {
	t.Parallel()
	type inner struct {
		Size ByteSize `yaml:"size"`
		N    int      `yaml:"n"`
	}
	type outer struct {
		A inner `yaml:"a"`
		B inner `yaml:"b"`
	}
	decode := func(s string) (outer, error) {
		var o outer
		dec := yaml.NewDecoder(strings.NewReader(s))
		dec.KnownFields(true)
		err := dec.Decode(&o)
		return o, err
	}
	o, err := decode("a: {size: 32MiB, n: 1}\nb: {size: 4096}\n")
	if err != nil || o.A.Size != 32*MiB || o.B.Size != 4096 || o.A.N != 1 {
		t.Fatalf("decode: %+v, %v", o, err)
	}
	_, err = decode("a: {size: 32MiB, typo: 1}\nb: {size: 1KiB, other: 2}\n")
	if err == nil || !strings.Contains(err.Error(), "line 1: field typo not found") || !strings.Contains(err.Error(), "line 2: field other not found") {
		t.Fatalf("unknown keys next to a ByteSize were not rejected: %v", err)
	}
}

// TestWalkerMatchesKnownFields cross-checks the schema walk against yaml.v3's
// own KnownFields(true) on documents without ${VAR}: every line yaml.v3
// reports an unknown key on, Parse reports one on too.
func TestWalkerMatchesKnownFields(t *testing.T) {
	t.Parallel()
	docs := []string{
		"agnet: {}\n" + base,
		doc("hots: x", "tls: {ca: x}\nsasl: {user: u}", "multiline: {pattern: x}\nfield: {a: b}"),
		base + "  - name: b\n    paths: [/b]\n    topic: t\n    keys: host\n",
		"kafka:\n  brokers: [\"k:1\"]\n  sasl:\n    mechanism: plain\n    passwd: x\npipelines: [{name: a, paths: [/a], topic: t, x: 1}]\n",
	}
	re := func(err error) map[string]bool {
		lines := map[string]bool{}
		if te, ok := err.(*yaml.TypeError); ok {
			for _, e := range te.Errors {
				if strings.Contains(e, "not found in type") {
					lines[strings.SplitN(e, ":", 2)[0]] = true
				}
			}
		}
		return lines
	}
	for i, d := range docs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var c Config
			dec := yaml.NewDecoder(strings.NewReader(d))
			dec.KnownFields(true)
			want := re(dec.Decode(&c))
			if len(want) == 0 {
				t.Fatal("test document has no unknown keys")
			}
			_, err := Parse("x.yaml", []byte(d))
			got := map[string]bool{}
			for _, fe := range errorList(t, err) {
				if strings.Contains(fe.Msg, "unknown key") {
					got[fmt.Sprintf("line %d", fe.Line)] = true
				}
			}
			for l := range want {
				if !got[l] {
					t.Errorf("yaml.v3 KnownFields reports an unknown key at %s, Parse does not:\n%v", l, err)
				}
			}
			if len(got) != len(want) {
				t.Errorf("unknown-key lines: Parse %v, yaml.v3 %v", got, want)
			}
		})
	}
}

func TestSecretRedaction(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-the-password"
	cfg := defaultConfig("h")
	cfg.Kafka.SASL = SASL{Mechanism: "plain", Username: "u", Password: pw}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("cfg", "password", cfg.Kafka.SASL.Password, "sasl", cfg.Kafka.SASL)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("cfg", "password", cfg.Kafka.SASL.Password)
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ym, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	txt, _ := cfg.Kafka.SASL.Password.MarshalText()
	outputs := map[string]string{
		"%v":      fmt.Sprintf("%v", cfg),
		"%+v":     fmt.Sprintf("%+v", cfg),
		"%#v":     fmt.Sprintf("%#v", cfg),
		"%s":      fmt.Sprintf("%s", cfg.Kafka.SASL.Password),
		"%q":      fmt.Sprintf("%q", cfg.Kafka.SASL.Password),
		"json":    string(js),
		"yaml":    string(ym),
		"text":    string(txt),
		"slog":    logged.String(),
		"summary": cfg.Summary(),
	}
	for name, out := range outputs {
		if strings.Contains(out, pw) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s does not show [redacted]: %s", name, out)
		}
	}
	if cfg.Kafka.SASL.Password.Value() != pw {
		t.Error("Value does not return the plain text")
	}
	var empty Secret
	if empty.String() != "" || empty.GoString() != `""` {
		t.Errorf("empty secret prints %q / %q", empty.String(), empty.GoString())
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	y := doc("host: web-1", "tls: {ca_file: /etc/ca.pem}\nsasl: {mechanism: plain, username: agent, password: pw}",
		"exclude: [\"*.gz\"]\nmultiline: {start_pattern: '^\\d'}\nserializer: json\nfields: {zone: b, env: \"prod 1\"}") +
		"  - {name: b, paths: [/b/*], topic: t, partitioner: fixed, partition: 2}\n"
	cfg, err := Parse("agent.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Summary()
	if s != cfg.Summary() {
		t.Error("Summary is not deterministic")
	}
	for _, want := range []string{
		"host=web-1", "listen=127.0.0.1:9520", "brokers=localhost:9092", "acks=all", "tls=on ca_file=/etc/ca.pem",
		"sasl=plain username=agent password=[redacted]", "pipeline app:", "/var/log/app/*.log", "exclude:", "*.gz",
		`start_pattern="^\\d" max_lines=500 timeout=2s`, "topic=logs.app key=host partitioner=hash serializer=json",
		`env="prod 1" zone=b`, "pipeline b:", "partitioner=fixed(2)", "multiline:  off",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "=pw") || !strings.HasSuffix(s, "\n") {
		t.Errorf("summary:\n%s", s)
	}
	cfg.HTTP.Listen = ""
	if !strings.Contains(cfg.Summary(), "http:") || !strings.Contains(cfg.Summary(), "disabled") {
		t.Errorf("disabled http not shown:\n%s", cfg.Summary())
	}
}

func TestAliasBombIsBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("kafka: {brokers: [\"k:1\"]}\nx0: &a0 [\"/a\"]\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [*a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1)
	}
	b.WriteString("pipelines: [{name: a, paths: *a29, topic: t}]\n") // 4^29 strings if expanded
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "pipelines[0].paths[0]: expected a string, got a list") {
		t.Fatalf("alias bomb: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("alias bomb took %v", d)
	}
}
