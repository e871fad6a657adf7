package config

import (
	"fmt"
	"net"
	"os"
)

// Warning is a valid setting that weakens a security default, or a secret
// file others can read. It names the key; it never holds a secret.
type Warning struct {
	Key     string // dotted key path, e.g. "http.listen"
	Problem string
}

// Warnings lists c's insecure settings in a fixed order, for main to log
// once at start and for validate to print: http.listen beyond loopback,
// http.pprof, acks other than all, TLS without certificate verification,
// SASL PLAIN without verified TLS (allowed explicitly), and *_file secrets
// (password_file, key_file) readable by group or others. It stats those
// files and reads nothing else; a file it cannot stat gives no warning (Load
// reports unreadable ones).
func (c *Config) Warnings() []Warning {
	var ws []Warning
	add := func(key, format string, args ...any) {
		ws = append(ws, Warning{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	if c.HTTP.Listen != "" && !loopback(c.HTTP.Listen) {
		add("http.listen", "%s is reachable from other hosts: metrics, /status (file paths) and /readyz are served without authentication", c.HTTP.Listen)
	}
	if c.HTTP.PProf {
		add("http.pprof", "/debug/pprof serves heap and goroutine dumps to anyone who can reach http.listen")
	}
	k := c.Kafka
	if k.Acks != "all" {
		add("kafka.acks", "acks %s: lines acknowledged by one broker are lost if it fails before replicating them", k.Acks)
	}
	if k.TLS.Enabled && k.TLS.InsecureSkipVerify {
		add("kafka.tls.insecure_skip_verify", "broker certificates are not verified: anyone in the network path can impersonate the brokers")
	}
	if k.SASL.Mechanism == "plain" && !k.TLS.verified() {
		add("kafka.sasl.allow_plain_without_tls", "the SASL PLAIN password is sent without verified TLS: anyone in the network path can read it")
	}
	for _, f := range []struct{ key, path string }{
		{"kafka.sasl.password_file", k.SASL.PasswordFile},
		{"kafka.tls.key_file", k.TLS.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err == nil && st.Mode().Perm()&0o077 != 0 {
			add(f.key, "%s is accessible to group or others (mode %v); chmod 0600", f.path, st.Mode().Perm())
		}
	}
	return ws
}

// verified reports whether TLS is on with certificate verification.
func (t TLS) verified() bool { return t.Enabled && !t.InsecureSkipVerify }

// loopback reports whether the listen address host:port binds only a
// loopback interface: "localhost" or a loopback IP. An empty host (all
// interfaces) or any other name is not.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
