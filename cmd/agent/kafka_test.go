package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/kafkatest/pki"
	"github.com/logship/logship/internal/producer"
	"github.com/segmentio/kafka-go"
)

func TestTLSConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteFile(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Client("agent")
	if err != nil {
		t.Fatal(err)
	}
	files, err := cli.WriteFiles(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not-pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}

	if c, err := tlsConfig(config.TLS{}); c != nil || err != nil {
		t.Fatalf("TLS off: got %v, %v; want nil, nil", c, err)
	}
	c, err := tlsConfig(config.TLS{Enabled: true, CAFile: caFile, ServerName: "broker.internal",
		CertFile: files.CertFile, KeyFile: files.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	if c.InsecureSkipVerify || c.RootCAs == nil || c.ServerName != "broker.internal" ||
		len(c.Certificates) != 1 || c.MinVersion < tls.VersionTLS12 {
		t.Fatalf("config does not verify with the CA, the server name and the client certificate: %+v", c)
	}
	if c, err := tlsConfig(config.TLS{Enabled: true}); err != nil || c.RootCAs != nil || c.InsecureSkipVerify {
		t.Fatalf("enabled without ca_file: want system roots and verification on, got %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name string
		tls  config.TLS
		want string
	}{
		{"ca file missing", config.TLS{Enabled: true, CAFile: filepath.Join(dir, "nope")}, "read ca_file"},
		{"ca file not PEM", config.TLS{Enabled: true, CAFile: notPEM}, "holds no PEM certificate"},
		{"key does not match", config.TLS{Enabled: true, CertFile: files.CertFile, KeyFile: notPEM}, "load client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlsConfig(tc.tls)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSASLMechanism(t *testing.T) {
	t.Parallel()
	const pw = "s3cret-never-shown"
	for _, tc := range []struct {
		mechanism, name string
	}{
		{"plain", "PLAIN"},
		{"scram-sha-256", "SCRAM-SHA-256"},
		{"scram-sha-512", "SCRAM-SHA-512"},
	} {
		m, err := saslMechanism(config.SASL{Mechanism: tc.mechanism, Username: "agent", Password: pw})
		if err != nil {
			t.Fatalf("%s: %v", tc.mechanism, err)
		}
		if m.Name() != tc.name {
			t.Fatalf("%s: mechanism %s, want %s", tc.mechanism, m.Name(), tc.name)
		}
	}
	if m, err := saslMechanism(config.SASL{}); m != nil || err != nil {
		t.Fatalf("SASL off: got %v, %v", m, err)
	}
	_, err := saslMechanism(config.SASL{Mechanism: "gssapi", Username: "agent", Password: pw})
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Fatalf("unknown mechanism: got %v, want an error without the password", err)
	}
}

func TestProducerOptionsEnums(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		set     func(*config.Kafka)
		check   func(producer.Options) bool
		wantErr string
	}{
		{"acks all", func(k *config.Kafka) { k.Acks = config.AcksAll },
			func(o producer.Options) bool { return o.Acks == kafka.RequireAll }, ""},
		{"acks leader", func(k *config.Kafka) { k.Acks = config.AcksLeader },
			func(o producer.Options) bool { return o.Acks == kafka.RequireOne }, ""},
		{"acks none", func(k *config.Kafka) { k.Acks = "none" }, nil, `unknown acks "none"`},
		{"compression none", func(k *config.Kafka) { k.Compression = config.CompressionNone },
			func(o producer.Options) bool { return o.Compression == 0 }, ""},
		{"compression zstd", func(k *config.Kafka) { k.Compression = config.CompressionZstd },
			func(o producer.Options) bool { return o.Compression == kafka.Zstd }, ""},
		{"compression unknown", func(k *config.Kafka) { k.Compression = "brotli" }, nil, `unknown compression "brotli"`},
		{"oversize dead letter", func(k *config.Kafka) { k.OversizeRecord = config.OversizeRecordDeadLetter },
			func(o producer.Options) bool { return o.Oversize == producer.OversizeDeadLetter }, ""},
		{"oversize unknown", func(k *config.Kafka) { k.OversizeRecord = "drop" }, nil, `unknown oversize_record "drop"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Kafka: config.Kafka{Acks: config.AcksAll, Compression: config.CompressionLZ4,
				OversizeRecord: config.OversizeRecordSplit}}
			tc.set(&cfg.Kafka)
			opts, err := producerOptions(cfg, nil, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(opts) {
				t.Fatalf("got %+v, %v", opts, err)
			}
		})
	}
}
