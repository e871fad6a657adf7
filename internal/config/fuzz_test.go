package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, that it returns either
// a config or an error, that a returned config passes Validate, and that
// every error is a positioned *FieldError.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"", base, "---\n", "~", "[]", "a: b", base + "---\n" + base,
		doc("memory_limit: 1GiB", "linger: 0s\ntls: {enabled: true}\nsasl: {mechanism: plain, username: u, password_file: /pw}",
			"multiline: {start_pattern: '^x', max_lines: 2}\nfields: {a: \"${FUZZ_VAR:-x}\"}"),
		"kafka: {brokers: [\"k:1\"]}\npipelines:\n  - &a {name: a, paths: [/a], topic: t}\n  - <<: *a\n    name: b\n",
		"x: &a [*a]\npipelines: *a\n",
		"agent: {memory_limit: !!binary aGk=, host: !!str 1}\n",
		"pipelines: [~, [], {}, 1, {name: [x]}]\nkafka: {brokers: {a: 1}}\n",
		"agent:\n  host: ${\n  data_dir: $$\n",
		"{? [a]: b, <<: [*x]}\n",
	}
	if data, err := os.ReadFile("../../agent.yaml"); err == nil {
		seeds = append(seeds, string(data))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	l := loader{
		lookupEnv: func(k string) (string, bool) {
			if k == "FUZZ_VAR" {
				return "v", true
			}
			return "", strings.HasPrefix(k, "E")
		},
		readFile: func(p string) ([]byte, error) {
			if p == "/pw" {
				return []byte("secret\n"), nil
			}
			return nil, errors.New("no such file")
		},
		hostname: func() (string, error) { return "fuzz", nil },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := l.parse("fuzz.yaml", data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", cfg != nil, err)
		}
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) || fe.File != "fuzz.yaml" || fe.Msg == "" {
					t.Fatalf("bad error %#v", e)
				}
				// Only whole-document problems lack a position; anything
				// else means yaml.v3 aborted a decode the walker should
				// have prevented.
				if fe.Line == 0 && fe.Key == "" && !strings.HasPrefix(fe.Msg, "empty configuration file") &&
					!strings.HasPrefix(fe.Msg, "invalid YAML") {
					t.Fatalf("unpositioned error: %v", fe)
				}
			}
			return
		}
		if verr := cfg.Validate(); verr != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", verr)
		}
		_ = cfg.Summary()
	})
}
