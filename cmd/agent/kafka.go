package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/producer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// producerOptions maps the kafka section of the configuration onto the
// producer. Secrets are read here and never logged.
func producerOptions(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (producer.Options, error) {
	k := cfg.Kafka
	opts := producer.Options{
		Brokers:         k.Brokers,
		ClientID:        k.ClientID,
		Linger:          k.Linger,
		BatchBytes:      int(k.BatchBytes),
		RequestTimeout:  k.RequestTimeout,
		RetryBackoff:    k.RetryBackoff,
		RetryBackoffMax: k.RetryBackoffMax,
		MetadataRefresh: k.MetadataRefresh,
		Logger:          log,
		Registerer:      reg,

		MaxRecordBytes:     int(k.MaxRecordBytes),
		Oversize:           producer.OversizePolicy(k.OversizeRecord),
		DeadLetterDir:      k.DeadLetterDir,
		DeadLetterMaxBytes: int64(k.DeadLetterMaxBytes),
	}
	switch k.Acks {
	case "", "all":
		opts.Acks = kafka.RequireAll
	case "leader":
		opts.Acks = kafka.RequireOne
	default:
		return opts, fmt.Errorf("kafka: acks %q cannot be used: it returns no RecordMetadata", k.Acks)
	}
	switch k.Compression {
	case "none":
	case "gzip":
		opts.Compression = kafka.Gzip
	case "snappy":
		opts.Compression = kafka.Snappy
	case "", "lz4":
		opts.Compression = kafka.Lz4
	case "zstd":
		opts.Compression = kafka.Zstd
	default:
		return opts, fmt.Errorf("kafka: unknown compression %q", k.Compression)
	}
	tlsCfg, err := tlsConfig(k.TLS)
	if err != nil {
		return opts, err
	}
	opts.TLS = tlsCfg
	mech, err := saslMechanism(k.SASL)
	if err != nil {
		return opts, err
	}
	opts.SASL = mech
	return opts, nil
}

// tlsConfig builds a verifying TLS configuration, or nil when TLS is off.
func tlsConfig(t config.TLS) (*tls.Config, error) {
	if !t.Enabled && t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls: ca_file %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: load client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func saslMechanism(s config.SASL) (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: string(s.Password)}, nil
	case "scram-sha-256", "scram-sha-512":
		alg := scram.SHA256
		if s.Mechanism == "scram-sha-512" {
			alg = scram.SHA512
		}
		m, err := scram.Mechanism(alg, s.Username, string(s.Password))
		if err != nil {
			// The error of scram.Mechanism concerns the username/password
			// encoding; do not echo the values.
			return nil, fmt.Errorf("kafka sasl: %s: invalid credentials encoding", s.Mechanism)
		}
		return m, nil
	}
	return nil, fmt.Errorf("kafka sasl: unknown mechanism %q", s.Mechanism)
}
