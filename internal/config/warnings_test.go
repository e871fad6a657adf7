package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose")
	tight := filepath.Join(dir, "tight")
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{loose, 0o640}, {tight, 0o600}} {
		if err := os.WriteFile(f.path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want []string // keys
	}{
		{"defaults", func(c *Config) {}, nil},
		{"listen localhost", func(c *Config) { c.HTTP.Listen = "localhost:9100" }, nil},
		{"listen ipv6 loopback", func(c *Config) { c.HTTP.Listen = "[::1]:9100" }, nil},
		{"listen 127.0.0.2", func(c *Config) { c.HTTP.Listen = "127.0.0.2:9100" }, nil},
		{"listen all interfaces", func(c *Config) { c.HTTP.Listen = ":9100" }, []string{"http.listen"}},
		{"listen public ip", func(c *Config) { c.HTTP.Listen = "10.0.0.1:9100" }, []string{"http.listen"}},
		{"listen host name", func(c *Config) { c.HTTP.Listen = "web-1:9100" }, []string{"http.listen"}},
		{"http disabled", func(c *Config) { c.HTTP.Listen = "" }, nil},
		{"pprof", func(c *Config) { c.HTTP.PProf = true }, []string{"http.pprof"}},
		{"acks leader", func(c *Config) { c.Kafka.Acks = "leader" }, []string{"kafka.acks"}},
		{"tls unverified", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, InsecureSkipVerify: true} },
			[]string{"kafka.tls.insecure_skip_verify"}},
		{"plain over verified tls", func(c *Config) {
			c.Kafka.TLS = TLS{Enabled: true}
			c.Kafka.SASL = SASL{Mechanism: "plain", PasswordFile: tight}
		}, nil},
		{"plain over unverified tls", func(c *Config) {
			c.Kafka.TLS = TLS{Enabled: true, InsecureSkipVerify: true}
			c.Kafka.SASL = SASL{Mechanism: "plain", AllowPlainWithoutTLS: true}
		}, []string{"kafka.tls.insecure_skip_verify", "kafka.sasl.allow_plain_without_tls"}},
		{"plain without tls", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "plain", AllowPlainWithoutTLS: true} },
			[]string{"kafka.sasl.allow_plain_without_tls"}},
		{"scram without tls", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "scram-sha-512"} }, nil},
		{"password_file group readable", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "scram-sha-512", PasswordFile: loose} },
			[]string{"kafka.sasl.password_file"}},
		{"key_file group readable", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CertFile: tight, KeyFile: loose} },
			[]string{"kafka.tls.key_file"}},
		{"key_file 0600", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CertFile: loose, KeyFile: tight} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConfig("h")
			tc.edit(&c)
			var got []string
			for _, w := range c.Warnings() {
				got = append(got, w.Key)
				if w.Problem == "" {
					t.Errorf("%s: empty problem", w.Key)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("warnings for %v, want %v", got, tc.want)
			}
		})
	}
}
