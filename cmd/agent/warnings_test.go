package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// #11 item 15: every valid but insecure setting is logged as a warning when
// the agent starts (the run below stops early on an unsafe data_dir, after
// the warnings), naming the key and never a secret.
func TestRunWarnsAboutInsecureSettings(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	shared := sharedDir(t, base, 0o777)
	pw := filepath.Join(base, "password")
	if err := os.WriteFile(pw, []byte("Sup3rSecret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(base, "agent.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `agent:
  data_dir: %q
http:
  listen: "0.0.0.0:19999"
  pprof: true
kafka:
  brokers: ["127.0.0.1:1"]
  acks: leader
  allow_unsafe_acks: true
  tls: {enabled: true, insecure_skip_verify: true}
  sasl: {mechanism: plain, username: u, password_file: %q, allow_plain_without_tls: true}
pipelines:
  - name: app
    paths: [%q]
    topic: logs.app
`, shared, pw, filepath.Join(base, "*.log")), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	run([]string{"run", "-config", cfg}, &out, &errb)
	logs := errb.String()
	for _, key := range []string{"http.listen", "http.pprof", "kafka.acks", "kafka.tls.insecure_skip_verify",
		"kafka.sasl.allow_plain_without_tls", "kafka.sasl.password_file"} {
		if !strings.Contains(logs, `"msg":"insecure setting","key":"`+key+`"`) {
			t.Errorf("no insecure setting warning for %s", key)
		}
	}
	if strings.Contains(logs, "Sup3r") {
		t.Errorf("the password reached the log")
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", logs)
	}
}

// validate prints the same warnings, and still succeeds.
func TestValidatePrintsWarnings(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfg, []byte(`http: {pprof: true}
kafka: {brokers: ["127.0.0.1:9092"]}
pipelines: [{name: app, paths: [/var/log/*.log], topic: t}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"validate", "-config", cfg}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "agent.yaml: warning: http.pprof: ") {
		t.Errorf("stderr lacks the pprof warning:\n%s", errb.String())
	}
}
