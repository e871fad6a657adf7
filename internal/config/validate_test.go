package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidationRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // nil: valid
	}{
		// agent
		{"host empty", doc("host: \"\"", "", ""), []string{"agent.yaml:3: agent.host: required"}},
		{"data_dir relative rejected", strings.Replace(base, "/var/lib/logship", "state", 1), []string{`agent.yaml:2: agent.data_dir: must be an absolute path, got "state"`}},
		{"memory_limit too small", doc("memory_limit: 1000KiB", "", ""), []string{"agent.memory_limit: must be at least 1MiB, got 1000KiB"}},
		{"memory_limit minimum", doc("memory_limit: 2MiB", "", "max_line_bytes: 1MiB"), nil},
		{"shutdown_timeout negative", doc("shutdown_timeout: -1s", "", ""), []string{"agent.shutdown_timeout: must be at least 100ms, got -1s"}},
		{"shutdown_timeout huge", doc("shutdown_timeout: 2h", "", ""), []string{"agent.shutdown_timeout: must be at most 1h, got 2h"}},
		{"checkpoint_interval zero", doc("checkpoint_interval: 0s", "", ""), []string{"agent.checkpoint_interval: must be at least 10ms, got 0s"}},
		{"log_level", doc("log_level: trace", "", ""), []string{`agent.log_level: invalid value "trace": must be one of debug, info, warn, error`}},
		{"log_format", doc("log_format: logfmt", "", ""), []string{`agent.log_format: invalid value "logfmt": must be one of auto, json, text`}},

		// http
		{"ready_stall too short", "http: {ready_stall: 100ms}\n" + base, []string{`agent.yaml:1: http.ready_stall: must be at least 1s, got 100ms`}},
		{"listen no port", "http: {listen: localhost}\n" + base, []string{`agent.yaml:1: http.listen: invalid address "localhost"`}},
		{"listen bad port", "http: {listen: \"127.0.0.1:http\"}\n" + base, []string{`http.listen: invalid port "http"`}},
		{"listen port range", "http: {listen: \"127.0.0.1:70000\"}\n" + base, []string{`http.listen: invalid port "70000"`}},
		{"listen all interfaces implicit", "http: {listen: \":9520\"}\n" + base, []string{`http.listen: listening on every interface must be explicit: write "0.0.0.0:9520"`}},
		{"listen all interfaces explicit", "http: {listen: \"0.0.0.0:9520\"}\n" + base, nil},
		{"listen ipv6", "http: {listen: \"[::1]:9520\"}\n" + base, nil},

		// kafka
		{"no brokers", strings.Replace(base, `["localhost:9092"]`, "[]", 1), []string{"agent.yaml:4: kafka.brokers: at least one broker (host:port) is required"}},
		{"no kafka section", "pipelines: [{name: a, paths: [/a], topic: t}]\n", []string{"agent.yaml:1: kafka.brokers: at least one broker"}},
		{"broker without port", strings.Replace(base, `"localhost:9092"`, `"localhost"`, 1), []string{`kafka.brokers[0]: invalid broker "localhost": want host:port`}},
		{"broker without host", strings.Replace(base, `"localhost:9092"`, `":9092"`, 1), []string{`kafka.brokers[0]: invalid broker ":9092"`}},
		{"broker bad port", strings.Replace(base, `"localhost:9092"`, `"localhost:0"`, 1), []string{`kafka.brokers[0]: invalid broker port "0"`}},
		{"duplicate broker", strings.Replace(base, `["localhost:9092"]`, `["a:1", "a:1"]`, 1), []string{`kafka.brokers[1]: duplicate broker "a:1"`}},
		{"client_id empty", doc("", "client_id: \"\"", ""), []string{"kafka.client_id: required"}},
		{"acks leader needs opt-in", doc("", "acks: leader", ""), []string{`agent.yaml:5: kafka.acks: acks "leader" can lose acknowledged lines when a broker fails; set kafka.allow_unsafe_acks: true`}},
		{"acks leader allowed", doc("", "acks: leader\nallow_unsafe_acks: true", ""), nil},
		{"acks none refused", doc("", "acks: none\nallow_unsafe_acks: true", ""), []string{`kafka.acks: invalid value "none": must be one of all, leader`}},
		{"acks invalid", doc("", "acks: 1", ""), []string{`kafka.acks: invalid value "1": must be one of all, leader`}},
		{"compression", doc("", "compression: brotli", ""), []string{`kafka.compression: invalid value "brotli": must be one of none, gzip, snappy, lz4, zstd`}},
		{"compression none", doc("", "compression: none", ""), nil},
		{"linger negative", doc("", "linger: -1ms", ""), []string{"kafka.linger: must not be negative, got -1ms"}},
		{"linger too long", doc("", "linger: 11s", ""), []string{"kafka.linger: must be at most 10s, got 11s"}},
		{"linger max", doc("", "linger: 10s", ""), nil},
		{"batch_bytes over half memory", doc("", "batch_bytes: 17MiB\nmax_record_bytes: 1MiB", ""), []string{"kafka.batch_bytes: must be at most half of agent.memory_limit (16MiB), got 17MiB"}},
		{"batch_bytes tiny", doc("", "batch_bytes: 10", ""), []string{"kafka.batch_bytes: must be at least 1KiB, got 10B"}},
		{"max_record over batch", doc("", "batch_bytes: 512KiB", ""), []string{"kafka.max_record_bytes: must not exceed kafka.batch_bytes (512KiB), got 1MiB"}},
		{"max_record zero", doc("", "max_record_bytes: 0", ""), []string{"kafka.max_record_bytes: must be at least 1KiB, got 0B"}},
		{"bad memory_limit not blamed on batch", doc("memory_limit: 0", "batch_bytes: 8MiB", ""), []string{"agent.memory_limit: must be at least 1MiB, got 0B"}},
		{"request_timeout", doc("", "request_timeout: 0s", ""), []string{"kafka.request_timeout: must be at least 100ms, got 0s"}},
		{"retry_backoff", doc("", "retry_backoff: 0s", ""), []string{"kafka.retry_backoff: must be at least 1ms, got 0s"}},
		{"retry_backoff_max below backoff", doc("", "retry_backoff: 2s\nretry_backoff_max: 1s", ""), []string{"kafka.retry_backoff_max: must not be below kafka.retry_backoff (2s), got 1s"}},
		{"retry_backoff_max huge", doc("", "retry_backoff_max: 1h", ""), []string{"kafka.retry_backoff_max: must be at most 10m, got 1h"}},
		{"metadata_refresh", doc("", "metadata_refresh: 1ms", ""), []string{"kafka.metadata_refresh: must be at least 100ms, got 1ms"}},
		{"tls cert without key", doc("", "tls: {cert_file: /c.pem}", ""), []string{"agent.yaml:5: kafka.tls.key_file: required when cert_file is set"}},
		{"tls key without cert", doc("", "tls: {key_file: /k.pem}", ""), []string{"kafka.tls.cert_file: required when key_file is set"}},
		{"tls cert and key", doc("", "tls: {cert_file: /c.pem, key_file: /k.pem}", ""), nil},
		{"tls server_name while off", doc("", "tls: {server_name: kafka}", ""), []string{"kafka.tls.enabled: must be true when server_name or insecure_skip_verify is set"}},
		{"tls insecure explicit", doc("", "tls: {enabled: true, insecure_skip_verify: true}", ""), nil},
		{"sasl mechanism", doc("", "sasl: {mechanism: gssapi}", ""), []string{`kafka.sasl.mechanism: invalid value "gssapi": must be one of "" (off), plain, scram-sha-256, scram-sha-512`}},
		{"sasl username without mechanism", doc("", "sasl: {username: u}", ""), []string{"kafka.sasl.mechanism: required when username or password is set"}},
		{"sasl without username", doc("", "tls: {enabled: true}\nsasl: {mechanism: scram-sha-256, password: p}", ""), []string{"kafka.sasl.username: required with mechanism scram-sha-256"}},
		{"sasl without password", doc("", "tls: {enabled: true}\nsasl: {mechanism: scram-sha-256, username: u}", ""), []string{"kafka.sasl.password: required with mechanism scram-sha-256"}},
		{"sasl plain without tls", doc("", "sasl: {mechanism: plain, username: u, password: p}", ""), []string{"kafka.sasl.mechanism: plain sends the password in clear text"}},
		{"sasl plain without tls allowed", doc("", "sasl: {mechanism: plain, username: u, password: p, allow_plain_without_tls: true}", ""), nil},
		{"sasl plain with tls", doc("", "tls: {ca_file: /ca.pem}\nsasl: {mechanism: plain, username: u, password: p}", ""), nil},
		{"sasl plain over unverified tls", doc("", "tls: {enabled: true, insecure_skip_verify: true}\nsasl: {mechanism: plain, username: u, password: p}", ""),
			[]string{"kafka.sasl.mechanism: plain sends the password to a broker whose certificate is not verified"}},
		{"sasl plain over unverified tls allowed", doc("", "tls: {enabled: true, insecure_skip_verify: true}\nsasl: {mechanism: plain, username: u, password: p, allow_plain_without_tls: true}", ""), nil},
		{"sasl scram without tls", doc("", "sasl: {mechanism: scram-sha-512, username: u, password: p}", ""), nil},

		// pipelines
		{"no pipelines", "kafka: {brokers: [\"k:9092\"]}\n", []string{"agent.yaml:1: pipelines: at least one pipeline is required"}},
		{"empty pipelines", "kafka: {brokers: [\"k:9092\"]}\npipelines: []\n", []string{"agent.yaml:2: pipelines: at least one pipeline is required"}},
		{"name missing", strings.Replace(base, "- name: app\n    paths", "- paths", 1), []string{"agent.yaml:6: pipelines[0].name: required"}},
		{"name charset", strings.Replace(base, "name: app", "name: My App", 1), []string{`agent.yaml:6: pipelines[0].name: invalid name "My App"`}},
		{"name allowed chars", strings.Replace(base, "name: app", "name: app-1_x.y", 1), nil},
		{"name too long", strings.Replace(base, "name: app", "name: "+strings.Repeat("a", 65), 1), []string{"pipelines[0].name: longer than 64 characters"}},
		{"name duplicate", base + "  - {name: app, paths: [/b], topic: t}\n", []string{`agent.yaml:9: pipelines[1].name: duplicate pipeline name "app" (also pipelines[0])`}},
		{"paths missing", strings.Replace(base, "    paths: [\"/var/log/app/*.log\"]\n", "", 1), []string{"agent.yaml:6: pipelines[0].paths: at least one absolute path glob is required"}},
		{"paths empty list", strings.Replace(base, `["/var/log/app/*.log"]`, "[]", 1), []string{"agent.yaml:7: pipelines[0].paths: at least one"}},
		{"path relative", strings.Replace(base, `/var/log/app/*.log`, `app/*.log`, 1), []string{`agent.yaml:7: pipelines[0].paths[0]: must be an absolute path, got "app/*.log"`}},
		{"path empty", strings.Replace(base, `"/var/log/app/*.log"`, `"/a", ""`, 1), []string{"pipelines[0].paths[1]: empty pattern"}},
		{"path bad glob", strings.Replace(base, `/var/log/app/*.log`, `/var/log/[a-/*.log`, 1), []string{`pipelines[0].paths[0]: invalid glob "/var/log/[a-/*.log": syntax error in pattern`}},
		{"path doublestar", strings.Replace(base, `/var/log/app/*.log`, `/var/log/**/*.log`, 1), []string{`pipelines[0].paths[0]: "**" is not supported`}},
		{"path glob classes ok", strings.Replace(base, `/var/log/app/*.log`, `/var/log/pods/*/[a-z]?/*.log`, 1), nil},
		{"path duplicate across pipelines", base + "  - {name: b, paths: [\"/var/log/app/*.log\"], topic: t}\n", []string{`agent.yaml:9: pipelines[1].paths[0]: "/var/log/app/*.log" is already tailed by pipelines[0]`}},
		{"exclude bad glob", doc("", "", "exclude: [\"[\"]"), []string{`agent.yaml:9: pipelines[0].exclude[0]: invalid glob "["`}},
		{"exclude relative ok", doc("", "", "exclude: [\"*.gz\", \"/var/log/app/skip.log\"]"), nil},
		{"exclude empty", doc("", "", "exclude: [\"\"]"), []string{"pipelines[0].exclude[0]: empty pattern"}},
		{"symlink_roots ok", doc("", "", "symlink_roots: [/var/log/pods]"), nil},
		{"symlink_roots relative", doc("", "", "symlink_roots: [pods]"), []string{"pipelines[0].symlink_roots[0]: must be an absolute directory"}},
		{"symlink_roots slash", doc("", "", "symlink_roots: [/]"), []string{`pipelines[0].symlink_roots[0]: "/" would let symlinks lead anywhere`}},
		{"symlink_roots glob", doc("", "", "symlink_roots: [/var/log/*]"), []string{"pipelines[0].symlink_roots[0]: must be a directory, not a glob"}},
		{"start_at", doc("", "", "start_at: middle"), []string{`pipelines[0].start_at: invalid value "middle": must be one of beginning, end`}},
		{"format", doc("", "", "format: json"), []string{`pipelines[0].format: invalid value "json": must be one of raw, cri, docker`}},
		{"format empty explicit", doc("", "", "format: \"\""), []string{`pipelines[0].format: invalid value ""`}},
		{"multiline bad regexp", doc("", "", "multiline: {start_pattern: \"(\"}"), []string{"agent.yaml:9: pipelines[0].multiline.start_pattern: invalid regular expression: error parsing regexp"}},
		{"multiline max_lines", doc("", "", "multiline: {start_pattern: x, max_lines: 0}"), []string{"pipelines[0].multiline.max_lines: must be between 1 and 100000, got 0"}},
		{"multiline timeout", doc("", "", "multiline: {start_pattern: x, timeout: 2m}"), []string{"pipelines[0].multiline.timeout: must be at most 1m, got 2m"}},
		{"multiline settings without pattern", doc("", "", "multiline: {max_lines: 10}"), []string{"agent.yaml:9: pipelines[0].multiline.start_pattern: required when max_lines or timeout is set"}},
		{"max_line_bytes tiny", doc("", "", "max_line_bytes: 1000"), []string{"pipelines[0].max_line_bytes: must be at least 1KiB, got 1kB"}},
		{"max_line_bytes over half memory", doc("", "", "max_line_bytes: 20MiB"), []string{"pipelines[0].max_line_bytes: must be at most half of agent.memory_limit (16MiB), got 20MiB"}},
		{"oversize_policy", doc("", "", "oversize_policy: drop"), []string{`pipelines[0].oversize_policy: invalid value "drop": must be one of split, truncate`}},
		{"topic missing", strings.Replace(base, "    topic: logs.app\n", "", 1), []string{"agent.yaml:6: pipelines[0].topic: required"}},
		{"topic chars", strings.Replace(base, "logs.app", "logs/app", 1), []string{`agent.yaml:8: pipelines[0].topic: invalid Kafka topic name "logs/app"`}},
		{"topic dot", strings.Replace(base, "logs.app", `"."`, 1), []string{`pipelines[0].topic: "." is not a valid Kafka topic name`}},
		{"topic too long", strings.Replace(base, "logs.app", strings.Repeat("t", 250), 1), []string{"pipelines[0].topic: longer than 249 characters"}},
		{"topic max length", strings.Replace(base, "logs.app", strings.Repeat("t", 249), 1), nil},
		{"topic all legal chars", strings.Replace(base, "logs.app", "A-z_0.9", 1), nil},
		{"key", doc("", "", "key: random"), []string{`pipelines[0].key: invalid value "random": must be one of host, source, none`}},
		{"partitioner", doc("", "", "partitioner: sticky"), []string{`pipelines[0].partitioner: invalid value "sticky": must be one of hash, round_robin, fixed`}},
		{"fixed partition negative", doc("", "", "partitioner: fixed\npartition: -2"), []string{"agent.yaml:10: pipelines[0].partition: must be 0 or more, got -2"}},
		{"fixed partition zero", doc("", "", "partitioner: fixed\npartition: 0"), nil},
		{"partition without fixed", doc("", "", "partition: 2"), []string{"agent.yaml:9: pipelines[0].partition: is only used with partitioner: fixed (partitioner is hash)"}},
		{"serializer", doc("", "", "serializer: avro"), []string{`pipelines[0].serializer: invalid value "avro": must be one of raw, json`}},
		{"fields empty key", doc("", "", "serializer: json\nfields: {\"\": x}"), []string{`agent.yaml:10: pipelines[0].fields[""]: field names must not be empty`}},
		{"headers empty key", doc("", "", "headers: {\"\": x}"), []string{`agent.yaml:9: pipelines[0].headers[""]: header names must not be empty`}},
		{"headers reserved prefix", doc("", "", "headers: {logship.part: x}"), []string{`pipelines[0].headers["logship.part"]: the logship. prefix is reserved`}},
		{"headers and source_headers off", doc("", "", "headers: {env: prod, team: a}\nsource_headers: false"), nil},
		{"oversize_record", doc("", "oversize_record: drop", ""), []string{`kafka.oversize_record: invalid value "drop": must be one of split, truncate, dead_letter`}},
		{"oversize_record dead_letter default dir", doc("", "oversize_record: dead_letter", ""), nil},
		{"dead_letter_dir relative", doc("", "oversize_record: dead_letter\ndead_letter_dir: dl", ""), []string{`kafka.dead_letter_dir: must be an absolute path, got "dl"`}},
		{"dead_letter_dir empty", doc("", "oversize_record: dead_letter\ndead_letter_dir: \"\"", ""), []string{"kafka.dead_letter_dir: required with oversize_record: dead_letter"}},
		{"dead_letter_max_bytes", doc("", "dead_letter_max_bytes: 10B", ""), []string{"kafka.dead_letter_max_bytes: must be at least 1KiB, got 10B"}},
		{"rescan_interval", doc("", "", "rescan_interval: 0s"), []string{"pipelines[0].rescan_interval: must be at least 10ms, got 0s"}},
		{"close_inactive", doc("", "", "close_inactive: 48h"), []string{"pipelines[0].close_inactive: must be at most 24h, got 48h"}},
		{"forget_after", doc("", "", "forget_after: 1s"), []string{"pipelines[0].forget_after: must be at least 1m, got 1s"}},
		{"forget_after ok", doc("", "", "forget_after: 1h"), nil},
		{"max_open_files", doc("", "", "max_open_files: 0"), []string{"agent.yaml:9: pipelines[0].max_open_files: must be between 1 and 1048576, got 0"}},
		{"max_open_files ok", doc("", "", "max_open_files: 64"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("agent.yaml", []byte(tt.yaml))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if err := cfg.Validate(); err != nil {
					t.Fatalf("Validate on a loaded config: %v", err)
				}
				return
			}
			wantErrors(t, err, tt.want...)
		})
	}
}

func TestValidateInCode(t *testing.T) {
	cfg := defaultConfig("h")
	cfg.Kafka.Brokers = []string{"k:9092"}
	p := defaultPipeline()
	p.Name, p.Paths, p.Topic = "a", []string{"/a"}, "t"
	cfg.Pipelines = []Pipeline{p}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Pipelines[0].Topic = ""
	cfg.Kafka.Linger = time.Minute
	wantErrors(t, cfg.Validate(), "kafka.linger: must be at most 10s, got 1m", "pipelines[0].topic: required")
	for _, fe := range errorList(t, cfg.Validate()) {
		if fe.Error() != fe.Key+": "+fe.Msg {
			t.Errorf("Validate error %q has a position", fe.Error())
		}
	}
}
