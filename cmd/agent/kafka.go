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
		DeadLetterDir:      k.DeadLetterDir,
		DeadLetterMaxBytes: int64(k.DeadLetterMaxBytes),
	}
	// The enumerations were validated by config (Load, Parse, Validate):
	// each maps onto the producer's type here, once; an impossible value is
	// an error, not a panic.
	var err error
	if opts.Acks, err = enumOption("acks", k.Acks, acksOptions); err != nil {
		return opts, err
	}
	if opts.Compression, err = enumOption("compression", k.Compression, compressionOptions); err != nil {
		return opts, err
	}
	if opts.Oversize, err = enumOption("oversize_record", k.OversizeRecord, oversizeOptions); err != nil {
		return opts, err
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

// The producer's value for each validated enumeration. acks=none is absent
// on purpose: it returns no RecordMetadata, so nothing could be checkpointed.
var (
	acksOptions = map[config.Acks]kafka.RequiredAcks{
		config.AcksAll:    kafka.RequireAll,
		config.AcksLeader: kafka.RequireOne,
	}
	compressionOptions = map[config.Compression]kafka.Compression{
		config.CompressionNone:   0,
		config.CompressionGzip:   kafka.Gzip,
		config.CompressionSnappy: kafka.Snappy,
		config.CompressionLZ4:    kafka.Lz4,
		config.CompressionZstd:   kafka.Zstd,
	}
	oversizeOptions = map[config.OversizeRecord]producer.OversizePolicy{
		config.OversizeRecordSplit:      producer.OversizeSplit,
		config.OversizeRecordTruncate:   producer.OversizeTruncate,
		config.OversizeRecordDeadLetter: producer.OversizeDeadLetter,
	}
)

// enumOption looks the validated value v of setting up in table; a value
// the table lacks is an error naming the setting.
func enumOption[E ~string, T any](setting string, v E, table map[E]T) (T, error) {
	t, ok := table[v]
	if !ok {
		return t, fmt.Errorf("kafka: unknown %s %q", setting, v)
	}
	return t, nil
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
