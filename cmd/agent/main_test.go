package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidateExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(`kafka:
  brokers: ["127.0.0.1:9092"]
pipelines:
  - name: app
    paths: ["/var/log/app/*.log"]
    topic: logs.app
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`kafka:
  brokers: ["127.0.0.1:9092"]
  acks: none
pipelines:
  - name: app
    paths: ["relative/*.log"]
    topc: logs.app
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"valid", []string{"validate", "-config", good}, exitOK, []string{"ok", "pipeline app", "topic=logs.app"}, nil},
		{"invalid reports every problem with file and line", []string{"validate", "-config", bad}, exitUsage, nil,
			[]string{"bad.yaml:3: kafka.acks", "bad.yaml:6: pipelines[0].paths[0]", "bad.yaml:7:", "topc"}},
		{"missing file", []string{"validate", "-config", filepath.Join(dir, "nope.yaml")}, exitUsage, nil, []string{"nope.yaml"}},
		{"run with invalid config touches nothing", []string{"run", "-config", bad}, exitUsage, nil, []string{"bad.yaml:3"}},
		{"version", []string{"version"}, exitOK, []string{"logship ", "commit ", "go1."}, nil},
		{"unknown command", []string{"frobnicate"}, exitUsage, nil, []string{"unknown command"}},
		{"no command", nil, exitUsage, nil, []string{"usage"}},
		{"positional argument rejected, not ignored", []string{"validate", bad}, exitUsage, nil,
			[]string{"unexpected argument", "bad.yaml", "-config"}},
		{"positional argument after the flag", []string{"validate", "-config", good, bad}, exitUsage, nil,
			[]string{"unexpected argument"}},
		{"checkpoints positional argument", []string{"checkpoints", good}, exitUsage, nil, []string{"unexpected argument"}},
		{"status positional argument", []string{"status", good}, exitUsage, nil, []string{"unexpected argument"}},
		{"run positional argument", []string{"run", good}, exitUsage, nil, []string{"unexpected argument"}},
		{"validate -h is help", []string{"validate", "-h"}, exitOK,
			[]string{"usage: logship validate [-config FILE]", "-config", "exit codes"}, nil},
		{"run -help is help", []string{"run", "-help"}, exitOK, []string{"usage: logship run", "SIGHUP", "-config"}, nil},
		{"status -h is help", []string{"status", "-h"}, exitOK, []string{"usage: logship status", "-json", "3"}, nil},
		{"checkpoints -h is help", []string{"checkpoints", "-h"}, exitOK, []string{"usage: logship checkpoints", "-json"}, nil},
		{"unknown flag", []string{"validate", "-nope"}, exitUsage, nil, []string{"-nope", "logship validate -h"}},
		{"help documents exit codes", []string{"help"}, exitOK,
			[]string{"exit codes", "0  ", "1  ", "2  ", "3  "}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
		})
	}
}
