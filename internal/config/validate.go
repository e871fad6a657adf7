package config

import (
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks c with the rules Load applies after decoding and returns
// every problem as a *FieldError joined with errors.Join (without file
// positions), or nil. It does not apply defaults or read *_file secrets, so it
// is meant for a Config built in code; a Config returned by Load or Parse is
// already valid.
func (c *Config) Validate() error {
	r := newReporter("", nil)
	r.validating = true
	c.validate(r)
	return r.err()
}

// Sanity bounds. They exist to catch typos (a "10h" linger), not to tune.
const (
	minMemoryLimit  = 1 * MiB
	minMaxLineBytes = 1 * KiB
	minRecordBytes  = 1 * KiB
	maxMultiline    = 100_000
	maxOpenFiles    = 1 << 20
	maxPipelineName = 64
	maxTopicLength  = 249
)

func (c *Config) validate(r *reporter) {
	c.Agent.validate(r, "agent")
	c.HTTP.validate(r, "http")
	c.Kafka.validate(r, "kafka", c.Agent.MemoryLimit)
	if len(c.Pipelines) == 0 && !r.isBad("pipelines") {
		r.add("pipelines", "at least one pipeline is required")
	}
	names := map[string]int{}
	globs := map[string]string{}
	for i := range c.Pipelines {
		p := &c.Pipelines[i]
		key := fmt.Sprintf("pipelines[%d]", i)
		p.validate(r, key, c.Agent.MemoryLimit)
		if j, dup := names[p.Name]; dup && p.Name != "" {
			r.addf(key+".name", "duplicate pipeline name %q (also pipelines[%d])", p.Name, j)
		} else {
			names[p.Name] = i
		}
		for j, g := range p.Paths {
			gk := fmt.Sprintf("%s.paths[%d]", key, j)
			if prev, dup := globs[g]; dup && g != "" {
				r.addf(gk, "%q is already tailed by %s; a file must belong to one pipeline", g, prev)
			} else {
				globs[g] = key
			}
		}
	}
}

func (a *Agent) validate(r *reporter, key string) {
	if a.Host == "" {
		r.add(key+".host", "required")
	}
	requiredAbs(r, key+".data_dir", a.DataDir, "required")
	if a.MemoryLimit < minMemoryLimit {
		r.addf(key+".memory_limit", "must be at least %s, got %s", minMemoryLimit, a.MemoryLimit)
	}
	durationIn(r, key+".shutdown_timeout", a.ShutdownTimeout, 100*time.Millisecond, time.Hour)
	durationIn(r, key+".checkpoint_interval", a.CheckpointInterval, 10*time.Millisecond, time.Hour)
	oneOf(r, key+".log_level", a.LogLevel, "debug", "info", "warn", "error")
	oneOf(r, key+".log_format", a.LogFormat, "auto", "json", "text")
}

func (h *HTTP) validate(r *reporter, key string) {
	durationIn(r, key+".ready_stall", h.ReadyStall, time.Second, time.Hour)
	if h.Listen == "" {
		return // disabled
	}
	host, port, err := net.SplitHostPort(h.Listen)
	switch {
	case err != nil:
		r.addf(key+".listen", `invalid address %q: want host:port such as "127.0.0.1:9520" (or "" to disable)`, h.Listen)
	case !validPort(port):
		r.addf(key+".listen", "invalid port %q: want 1-65535", port)
	case host == "":
		r.addf(key+".listen", `listening on every interface must be explicit: write "0.0.0.0:%s" or "[::]:%s"`, port, port)
	}
}

func (k *Kafka) validate(r *reporter, key string, memoryLimit ByteSize) {
	if len(k.Brokers) == 0 && !r.isBad(key+".brokers") {
		r.add(key+".brokers", "at least one broker (host:port) is required")
	}
	seen := map[string]bool{}
	for i, b := range k.Brokers {
		bk := fmt.Sprintf("%s.brokers[%d]", key, i)
		host, port, err := net.SplitHostPort(b)
		switch {
		case err != nil || host == "":
			r.addf(bk, `invalid broker %q: want host:port such as "localhost:9092"`, b)
		case !validPort(port):
			r.addf(bk, "invalid broker port %q: want 1-65535", port)
		case seen[b]:
			r.addf(bk, "duplicate broker %q", b)
		}
		seen[b] = true
	}
	if k.ClientID == "" {
		r.add(key+".client_id", "required")
	}
	// acks=none is not offered: the broker returns no offsets, so no line
	// could ever be checkpointed.
	if oneOf(r, key+".acks", k.Acks, acksValues...) && k.Acks != AcksAll && !k.AllowUnsafeAcks {
		r.addf(key+".acks", "acks %q can lose acknowledged lines when a broker fails; set kafka.allow_unsafe_acks: true to accept that", k.Acks)
	}
	oneOf(r, key+".compression", k.Compression, compressionValues...)
	durationIn(r, key+".linger", k.Linger, 0, 10*time.Second)

	batchOK := false
	switch {
	case k.BatchBytes < minRecordBytes:
		r.addf(key+".batch_bytes", "must be at least %s, got %s", minRecordBytes, k.BatchBytes)
	case memoryLimitOK(r, memoryLimit) && k.BatchBytes > memoryLimit/2:
		r.addf(key+".batch_bytes", "must be at most half of agent.memory_limit (%s), got %s", memoryLimit/2, k.BatchBytes)
	default:
		batchOK = !r.isBad(key + ".batch_bytes")
	}
	if k.MaxRecordBytes < minRecordBytes {
		r.addf(key+".max_record_bytes", "must be at least %s, got %s", minRecordBytes, k.MaxRecordBytes)
	} else if batchOK && k.MaxRecordBytes > k.BatchBytes {
		r.addf(key+".max_record_bytes", "must not exceed kafka.batch_bytes (%s), got %s", k.BatchBytes, k.MaxRecordBytes)
	}
	durationIn(r, key+".request_timeout", k.RequestTimeout, 100*time.Millisecond, 10*time.Minute)
	backoffOK := durationIn(r, key+".retry_backoff", k.RetryBackoff, time.Millisecond, time.Minute) && !r.isBad(key+".retry_backoff")
	if durationIn(r, key+".retry_backoff_max", k.RetryBackoffMax, time.Millisecond, 10*time.Minute) &&
		backoffOK && k.RetryBackoffMax < k.RetryBackoff {
		r.addf(key+".retry_backoff_max", "must not be below kafka.retry_backoff (%s), got %s", fmtDuration(k.RetryBackoff), fmtDuration(k.RetryBackoffMax))
	}
	durationIn(r, key+".metadata_refresh", k.MetadataRefresh, 100*time.Millisecond, time.Hour)
	if oneOf(r, key+".oversize_record", k.OversizeRecord, oversizeRecordValues...) && k.OversizeRecord == OversizeRecordDeadLetter {
		requiredAbs(r, key+".dead_letter_dir", k.DeadLetterDir, "required with oversize_record: dead_letter")
	}
	if k.DeadLetterMaxBytes < minRecordBytes {
		r.addf(key+".dead_letter_max_bytes", "must be at least %s, got %s", minRecordBytes, k.DeadLetterMaxBytes)
	}
	k.TLS.validate(r, key+".tls")
	tlsOn := k.TLS.Enabled || k.TLS.CAFile != "" || k.TLS.CertFile != "" || k.TLS.KeyFile != ""
	k.SASL.validate(r, key+".sasl", tlsOn, tlsOn && !k.TLS.InsecureSkipVerify)
}

func (t *TLS) validate(r *reporter, key string) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		r.add(key+".key_file", "required when cert_file is set")
	case t.KeyFile != "" && t.CertFile == "":
		r.add(key+".cert_file", "required when key_file is set")
	}
	on := t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != ""
	if !on && (t.ServerName != "" || t.InsecureSkipVerify) {
		r.add(key+".enabled", "must be true when server_name or insecure_skip_verify is set (TLS is off)")
	}
}

// validate checks s; tls says TLS is on, verified that it also verifies
// the brokers' certificates: PLAIN over unverified TLS hands the password to
// whoever answers, so it counts as no TLS.
func (s *SASL) validate(r *reporter, key string, tls, verified bool) {
	if !oneOf(r, key+".mechanism", s.Mechanism, "", "plain", "scram-sha-256", "scram-sha-512") {
		return
	}
	if s.Mechanism == "" {
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			r.add(key+".mechanism", "required when username or password is set (plain, scram-sha-256 or scram-sha-512)")
		}
		return
	}
	if s.Username == "" {
		r.addf(key+".username", "required with mechanism %s", s.Mechanism)
	}
	if s.Password == "" && !r.isBad(key+".password_file") && !r.isBad(key+".password") {
		r.addf(key+".password", "required with mechanism %s (set password or password_file)", s.Mechanism)
	}
	if s.Mechanism == "plain" && !s.AllowPlainWithoutTLS {
		switch {
		case !tls:
			r.add(key+".mechanism", "plain sends the password in clear text: enable kafka.tls, or set kafka.sasl.allow_plain_without_tls: true")
		case !verified:
			r.add(key+".mechanism", "plain sends the password to a broker whose certificate is not verified (kafka.tls.insecure_skip_verify): verify it, or set kafka.sasl.allow_plain_without_tls: true")
		}
	}
}

var (
	rePipelineName = regexp.MustCompile(`^[a-z0-9_.-]+$`)
	reTopic        = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
)

func (p *Pipeline) validate(r *reporter, key string, memoryLimit ByteSize) {
	switch {
	case p.Name == "":
		r.add(key+".name", "required")
	case len(p.Name) > maxPipelineName:
		r.addf(key+".name", "longer than %d characters", maxPipelineName)
	case !rePipelineName.MatchString(p.Name):
		r.addf(key+".name", "invalid name %q: use lowercase letters, digits, '_', '.' and '-'", p.Name)
	}
	if len(p.Paths) == 0 && !r.isBad(key+".paths") {
		r.add(key+".paths", "at least one absolute path glob is required")
	}
	for i, g := range p.Paths {
		gk := fmt.Sprintf("%s.paths[%d]", key, i)
		if g != "" && !filepath.IsAbs(g) {
			r.addf(gk, "must be an absolute path, got %q", g)
			continue
		}
		checkGlob(r, gk, g)
	}
	for i, g := range p.Exclude {
		checkGlob(r, fmt.Sprintf("%s.exclude[%d]", key, i), g)
	}
	for i, d := range p.SymlinkRoots {
		dk := fmt.Sprintf("%s.symlink_roots[%d]", key, i)
		switch {
		case !filepath.IsAbs(d):
			r.addf(dk, "must be an absolute directory, got %q", d)
		case filepath.Clean(d) == "/":
			r.add(dk, `"/" would let symlinks lead anywhere: name the directory they lead into`)
		case strings.ContainsAny(d, `*?[\`):
			r.addf(dk, "must be a directory, not a glob: %q", d)
		}
	}
	oneOf(r, key+".start_at", p.StartAt, startAtValues...)
	oneOf(r, key+".format", p.Format, formatValues...)
	p.Multiline.validate(r, key+".multiline")
	if p.MaxLineBytes < minMaxLineBytes {
		r.addf(key+".max_line_bytes", "must be at least %s, got %s", minMaxLineBytes, p.MaxLineBytes)
	} else if memoryLimitOK(r, memoryLimit) && p.MaxLineBytes > memoryLimit/2 {
		r.addf(key+".max_line_bytes", "must be at most half of agent.memory_limit (%s), got %s", memoryLimit/2, p.MaxLineBytes)
	}
	oneOf(r, key+".oversize_policy", p.OversizePolicy, oversizePolicyValues...)
	switch {
	case p.Topic == "":
		r.add(key+".topic", "required")
	case p.Topic == "." || p.Topic == "..":
		r.addf(key+".topic", "%q is not a valid Kafka topic name", p.Topic)
	case len(p.Topic) > maxTopicLength:
		r.addf(key+".topic", "longer than %d characters", maxTopicLength)
	case !reTopic.MatchString(p.Topic):
		r.addf(key+".topic", "invalid Kafka topic name %q: use letters, digits, '.', '_' and '-'", p.Topic)
	}
	oneOf(r, key+".key", p.Key, keyValues...)
	for _, h := range slices.Sorted(maps.Keys(p.Headers)) {
		switch {
		case strings.TrimSpace(h) == "":
			r.add(mapKey(key+".headers", h), "header names must not be empty")
		case strings.HasPrefix(h, "logship."):
			r.add(mapKey(key+".headers", h), "the logship. prefix is reserved for the agent's own headers")
		}
	}
	if oneOf(r, key+".partitioner", p.Partitioner, partitionerValues...) {
		switch {
		case p.Partitioner == PartitionerFixed && p.Partition < 0:
			r.addf(key+".partition", "must be 0 or more, got %d", p.Partition)
		case p.Partitioner != PartitionerFixed && p.Partition != 0:
			r.addf(key+".partition", "is only used with partitioner: fixed (partitioner is %s)", p.Partitioner)
		}
	}
	oneOf(r, key+".serializer", p.Serializer, serializerValues...)
	for _, k := range slices.Sorted(maps.Keys(p.Fields)) {
		if strings.TrimSpace(k) == "" {
			r.add(mapKey(key+".fields", k), "field names must not be empty")
		}
	}
	durationIn(r, key+".rescan_interval", p.RescanInterval, 10*time.Millisecond, time.Hour)
	durationIn(r, key+".close_inactive", p.CloseInactive, 10*time.Millisecond, 24*time.Hour)
	durationIn(r, key+".forget_after", p.ForgetAfter, time.Minute, 365*24*time.Hour)
	if p.MaxOpenFiles < 1 || p.MaxOpenFiles > maxOpenFiles {
		r.addf(key+".max_open_files", "must be between 1 and %d, got %d", maxOpenFiles, p.MaxOpenFiles)
	}
}

func (m *Multiline) validate(r *reporter, key string) {
	if m.StartPattern == "" {
		if r.pos != nil && (r.pos.has(key+".max_lines") || r.pos.has(key+".timeout")) {
			r.add(key+".start_pattern", "required when max_lines or timeout is set (multiline is off without it)")
		}
		return
	}
	if _, err := regexp.Compile(m.StartPattern); err != nil {
		r.addf(key+".start_pattern", "invalid regular expression: %v", err)
	}
	if m.MaxLines < 1 || m.MaxLines > maxMultiline {
		r.addf(key+".max_lines", "must be between 1 and %d, got %d", maxMultiline, m.MaxLines)
	}
	durationIn(r, key+".timeout", m.Timeout, time.Millisecond, time.Minute)
}

// memoryLimitOK says whether agent.memory_limit is valid, so that limits
// derived from it are not reported against a value already in error.
func memoryLimitOK(r *reporter, m ByteSize) bool {
	return m >= minMemoryLimit && !r.isBad("agent.memory_limit")
}

// checkGlob reports a pattern that is empty, uses "**", or is not valid
// filepath.Match syntax.
func checkGlob(r *reporter, key, g string) {
	switch {
	case g == "":
		r.add(key, "empty pattern")
	case strings.Contains(g, "**"):
		r.addf(key, `"**" is not supported in %q: use one "*" per directory level, such as "/var/log/*/*.log"`, g)
	default:
		if _, err := filepath.Match(g, ""); err != nil {
			r.addf(key, "invalid glob %q: %v", g, err)
		}
	}
}

// oneOf reports v unless it is one of allowed, and says whether it is.
func oneOf[T ~string](r *reporter, key string, v T, allowed ...T) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	shown := make([]string, 0, len(allowed))
	for _, a := range allowed {
		s := string(a)
		if s == "" {
			s = `"" (off)`
		}
		shown = append(shown, s)
	}
	r.addf(key, "invalid value %q: must be one of %s", v, strings.Join(shown, ", "))
	return false
}

// durationIn reports d unless lo <= d <= hi, and says whether it is in range.
func durationIn(r *reporter, key string, d, lo, hi time.Duration) bool {
	switch {
	case d < lo && lo <= 0:
		r.addf(key, "must not be negative, got %s", fmtDuration(d))
	case d < lo:
		r.addf(key, "must be at least %s, got %s", fmtDuration(lo), fmtDuration(d))
	case d > hi:
		r.addf(key, "must be at most %s, got %s", fmtDuration(hi), fmtDuration(d))
	default:
		return true
	}
	return false
}

// requiredAbs reports path under key when it is empty (with the problem
// missing) or not absolute.
func requiredAbs(r *reporter, key, path, missing string) {
	switch {
	case path == "":
		r.add(key, missing)
	case !filepath.IsAbs(path):
		r.addf(key, "must be an absolute path, got %q", path)
	}
}

// fmtDuration prints d without trailing zero units ("1h", not "1h0m0s").
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}
