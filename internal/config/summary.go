package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Summary renders the effective configuration — every default applied, one
// block per pipeline — as aligned, human-readable text for `logship
// validate`. The output is deterministic (map keys sorted) and ends with a
// newline. Secrets print as "[redacted]"; file paths of secrets are shown.
func (c *Config) Summary() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	row := func(indent, key string, kv ...string) {
		if len(kv) == 0 {
			fmt.Fprintf(tw, "%s%s\n", indent, key) // a heading; ends the aligned block
			return
		}
		fmt.Fprintf(tw, "%s%s\t%s\n", indent, key, strings.Join(kv, " "))
	}
	a := c.Agent
	row("", "agent:", kv("host", a.Host), kv("data_dir", a.DataDir), kv("memory_limit", a.MemoryLimit.String()))
	row("", "", kv("shutdown_timeout", fmtDuration(a.ShutdownTimeout)), kv("checkpoint_interval", fmtDuration(a.CheckpointInterval)),
		kv("log_level", a.LogLevel), kv("log_format", a.LogFormat))
	if c.HTTP.Listen == "" {
		row("", "http:", "disabled")
	} else {
		row("", "http:", kv("listen", c.HTTP.Listen), kv("ready_stall", fmtDuration(c.HTTP.ReadyStall)), kv("pprof", fmt.Sprint(c.HTTP.PProf)))
	}

	k := c.Kafka
	acks := k.Acks
	if k.Acks != "all" && k.AllowUnsafeAcks {
		acks += " (unsafe, allowed)"
	}
	row("", "kafka:", kv("brokers", strings.Join(k.Brokers, ",")), kv("client_id", k.ClientID), kv("acks", acks), kv("compression", k.Compression))
	row("", "", kv("linger", fmtDuration(k.Linger)), kv("batch_bytes", k.BatchBytes.String()), kv("max_record_bytes", k.MaxRecordBytes.String()))
	row("", "", kv("request_timeout", fmtDuration(k.RequestTimeout)), kv("retry_backoff", fmtDuration(k.RetryBackoff)+".."+fmtDuration(k.RetryBackoffMax)),
		kv("metadata_refresh", fmtDuration(k.MetadataRefresh)))
	if k.OversizeRecord == "dead_letter" {
		row("", "", kv("oversize_record", k.OversizeRecord), kv("dead_letter_dir", k.DeadLetterDir), kv("dead_letter_max_bytes", k.DeadLetterMaxBytes.String()))
	} else {
		row("", "", kv("oversize_record", k.OversizeRecord))
	}
	if t := k.TLS; t.Enabled {
		tls := []string{kv("tls", "on")}
		for _, f := range [][2]string{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"server_name", t.ServerName}} {
			if f[1] != "" {
				tls = append(tls, kv(f[0], f[1]))
			}
		}
		if t.InsecureSkipVerify {
			tls = append(tls, "insecure_skip_verify=true (certificates NOT verified)")
		}
		row("", "", tls...)
	} else {
		row("", "", kv("tls", "off"))
	}
	if s := k.SASL; s.Mechanism != "" {
		sasl := []string{kv("sasl", s.Mechanism), kv("username", s.Username), kv("password", s.Password.String())}
		if s.PasswordFile != "" {
			sasl = append(sasl, kv("password_file", s.PasswordFile))
		}
		if s.Mechanism == "plain" && !k.TLS.verified() {
			sasl = append(sasl, "(without verified TLS, allowed)")
		}
		row("", "", sasl...)
	} else {
		row("", "", kv("sasl", "off"))
	}

	for _, p := range c.Pipelines {
		row("", "pipeline "+quoteIfNeeded(p.Name)+":")
		row("  ", "paths:", quoteAll(p.Paths)...)
		if len(p.Exclude) > 0 {
			row("  ", "exclude:", quoteAll(p.Exclude)...)
		}
		if len(p.SymlinkRoots) > 0 {
			row("  ", "symlink_roots:", quoteAll(p.SymlinkRoots)...)
		}
		row("  ", "read:", kv("start_at", p.StartAt), kv("format", p.Format), kv("max_line_bytes", p.MaxLineBytes.String()),
			kv("oversize_policy", p.OversizePolicy))
		row("  ", "", kv("rescan_interval", fmtDuration(p.RescanInterval)), kv("close_inactive", fmtDuration(p.CloseInactive)),
			kv("forget_after", fmtDuration(p.ForgetAfter)), kv("max_open_files", strconv.Itoa(p.MaxOpenFiles)))
		if m := p.Multiline; m.StartPattern != "" {
			row("  ", "multiline:", "start_pattern="+strconv.Quote(m.StartPattern), kv("max_lines", strconv.Itoa(m.MaxLines)),
				kv("timeout", fmtDuration(m.Timeout)))
		} else {
			row("  ", "multiline:", "off")
		}
		partitioner := p.Partitioner
		if p.Partitioner == "fixed" {
			partitioner += "(" + strconv.Itoa(int(p.Partition)) + ")"
		}
		row("  ", "deliver:", kv("topic", p.Topic), kv("key", p.Key), kv("partitioner", partitioner), kv("serializer", p.Serializer))
		if len(p.Fields) > 0 {
			names := make([]string, 0, len(p.Fields))
			for n := range p.Fields {
				names = append(names, n)
			}
			sort.Strings(names)
			fields := make([]string, len(names))
			for i, n := range names {
				fields[i] = quoteIfNeeded(n) + "=" + quoteIfNeeded(p.Fields[n])
			}
			row("  ", "fields:", fields...)
		}
	}
	_ = tw.Flush() // writes to a strings.Builder cannot fail
	return b.String()
}

var reBare = regexp.MustCompile(`^[A-Za-z0-9_./:*?()\[\]@+-]+$`)

// quoteIfNeeded leaves simple values bare and quotes anything with spaces,
// quotes, control characters or an empty value.
func quoteIfNeeded(s string) string {
	if reBare.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

func kv(k, v string) string { return k + "=" + quoteIfNeeded(v) }

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quoteIfNeeded(s)
	}
	return out
}
