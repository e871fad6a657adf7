// Package config defines logship's YAML schema (agent.yaml), its defaults, and
// its validation. Load decodes strictly (unknown keys, wrong types, empty
// files and multiple documents are errors), expands ${VAR} references, reads
// *_file secrets, and reports every problem at once as "FILE:LINE: key: problem".
//
// Decoding works on the yaml.Node tree so that line numbers survive ${VAR}
// expansion: the tree is parsed with a yaml.v3 Decoder, checked against the
// schema (unknown keys, shapes, sizes, durations — the same check
// KnownFields(true) does, which yaml.v3 cannot apply to a Node), expanded,
// and only then decoded into a Config pre-filled with defaults, so keys that
// are absent keep their default and keys set explicitly (even to "") do not.
// No type in this package implements yaml.Unmarshaler.
package config

import "time"

// Config is the whole agent configuration after defaults, expansion and
// validation. Load and Parse return it fully populated; callers treat it as
// read-only and may share it between goroutines.
type Config struct {
	Agent     Agent      `yaml:"agent"`
	HTTP      HTTP       `yaml:"http"`
	Kafka     Kafka      `yaml:"kafka"`
	Pipelines []Pipeline `yaml:"pipelines"`
}

// Agent holds process-wide settings.
type Agent struct {
	Host               string        `yaml:"host"`                // default: os.Hostname()
	DataDir            string        `yaml:"data_dir"`            // checkpoint directory; default /var/lib/logship
	MemoryLimit        ByteSize      `yaml:"memory_limit"`        // budget for bytes read but not acknowledged; default 32MiB
	ShutdownTimeout    time.Duration `yaml:"shutdown_timeout"`    // default 30s
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"` // default 1s
	LogLevel           string        `yaml:"log_level"`           // debug|info|warn|error; default info
	LogFormat          string        `yaml:"log_format"`          // auto (default: text on a terminal, JSON otherwise) | json | text
}

// HTTP configures the metrics and health endpoint.
type HTTP struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:9520; empty disables
	// ReadyStall is how long /readyz tolerates bytes waiting with no
	// acknowledgement, or no successful request to any broker; default 30s.
	ReadyStall time.Duration `yaml:"ready_stall"`
	// PProf serves /debug/pprof on the same listener; default false.
	PProf bool `yaml:"pprof"`
}

// Kafka configures the producer side shared by all pipelines.
type Kafka struct {
	Brokers         []string      `yaml:"brokers"`
	ClientID        string        `yaml:"client_id"` // default "logship"
	Acks            string        `yaml:"acks"`      // all (default) | leader (needs AllowUnsafeAcks); none is refused: it returns no offsets
	AllowUnsafeAcks bool          `yaml:"allow_unsafe_acks"`
	Compression     string        `yaml:"compression"`       // none|gzip|snappy|lz4|zstd; default lz4
	Linger          time.Duration `yaml:"linger"`            // default 10ms
	BatchBytes      ByteSize      `yaml:"batch_bytes"`       // default 1MiB
	MaxRecordBytes  ByteSize      `yaml:"max_record_bytes"`  // default 1MiB (broker max.message.bytes default)
	RequestTimeout  time.Duration `yaml:"request_timeout"`   // default 30s
	RetryBackoff    time.Duration `yaml:"retry_backoff"`     // first retry delay, default 100ms
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"` // cap, default 10s
	MetadataRefresh time.Duration `yaml:"metadata_refresh"`  // default 5s
	TLS             TLS           `yaml:"tls"`
	SASL            SASL          `yaml:"sasl"`

	// OversizeRecord is what happens to one record the broker rejects as
	// larger than the topic's max.message.bytes: split (default) into parts
	// with a "logship.part: i/n" header | truncate with a
	// "logship.truncated: <length>" header | dead_letter (append to
	// DeadLetterDir/dead-letter.jsonl; when that file is full or unwritable
	// the record is truncated instead). Always counted, never retried forever.
	OversizeRecord     string   `yaml:"oversize_record"`
	DeadLetterDir      string   `yaml:"dead_letter_dir"`       // default <agent.data_dir>/dead-letter
	DeadLetterMaxBytes ByteSize `yaml:"dead_letter_max_bytes"` // cap of the dead-letter file; default 64MiB
}

// TLS enables TLS towards the brokers when Enabled is true or any file is set;
// Load sets Enabled to true in the latter case, so Enabled alone decides.
// Verification is always on unless InsecureSkipVerify is set explicitly.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures broker authentication. Password is filled from
// PasswordFile by Load (one trailing newline removed); setting both is an
// error. Password redacts itself when printed, logged or marshalled.
type SASL struct {
	Mechanism            string `yaml:"mechanism"` // "" (off) | plain | scram-sha-256 | scram-sha-512
	Username             string `yaml:"username"`
	Password             Secret `yaml:"password"`
	PasswordFile         string `yaml:"password_file"`
	AllowPlainWithoutTLS bool   `yaml:"allow_plain_without_tls"`
}

// Pipeline is one set of files shipped to one topic.
type Pipeline struct {
	Name    string   `yaml:"name"`
	Paths   []string `yaml:"paths"`   // absolute filepath.Match globs; "**" is rejected
	Exclude []string `yaml:"exclude"` // globs matched against the base name and the full path
	// SymlinkRoots are directories outside the globs' static directories
	// that matched symlinks may lead into (e.g. /var/log/pods for
	// /var/log/containers/*.log); any other target outside is refused.
	SymlinkRoots   []string          `yaml:"symlink_roots"`
	StartAt        string            `yaml:"start_at"` // beginning (default) | end; only for files never seen before
	Format         string            `yaml:"format"`   // raw (default) | cri | docker
	Multiline      Multiline         `yaml:"multiline"`
	MaxLineBytes   ByteSize          `yaml:"max_line_bytes"`  // default 1MiB; longer lines follow OversizePolicy
	OversizePolicy string            `yaml:"oversize_policy"` // split (default) | truncate
	ForgetAfter    time.Duration     `yaml:"forget_after"`    // checkpoint entries of files gone this long are dropped; default 24h
	MaxOpenFiles   int               `yaml:"max_open_files"`  // descriptors this pipeline's readers may hold at once; default 4096 (capped at half the fd limit)
	Topic          string            `yaml:"topic"`
	Key            string            `yaml:"key"`             // host (default) | source | none
	Partitioner    string            `yaml:"partitioner"`     // hash (default) | round_robin | fixed
	Partition      int32             `yaml:"partition"`       // used with partitioner: fixed
	Serializer     string            `yaml:"serializer"`      // raw (default) | json
	Fields         map[string]string `yaml:"fields"`          // static fields for the JSON envelope
	RescanInterval time.Duration     `yaml:"rescan_interval"` // default 5s
	CloseInactive  time.Duration     `yaml:"close_inactive"`  // grace period before a rotated/deleted file's fd is released; default 5s

	Headers map[string]string `yaml:"headers"` // static Kafka record headers; names must not start with "logship."
	// SourceHeaders adds "logship.source" (<agent id>:<device>:<inode>:<generation>,
	// see pipeline.HeaderSource) and
	// "logship.offset" (the line's end offset) to every record so consumers
	// can drop duplicates; default true.
	SourceHeaders bool `yaml:"source_headers"`
}

// Multiline joins continuation lines into one event. Disabled when
// StartPattern is empty, in which case Load leaves the whole struct zero.
type Multiline struct {
	StartPattern string        `yaml:"start_pattern"` // Go regexp matching the first line of an event
	MaxLines     int           `yaml:"max_lines"`     // default 500
	Timeout      time.Duration `yaml:"timeout"`       // flush an incomplete event after this long; default 2s
}

// Defaults. They are applied by pre-filling the structs before decoding, so
// an absent key keeps its default and an explicit value (even "") wins.
const (
	DefaultDataDir            = "/var/lib/logship"
	DefaultMemoryLimit        = 32 * MiB
	DefaultShutdownTimeout    = 30 * time.Second
	DefaultCheckpointInterval = time.Second
	DefaultLogLevel           = "info"
	DefaultLogFormat          = "auto"
	DefaultListen             = "127.0.0.1:9520"
	DefaultReadyStall         = 30 * time.Second
	DefaultClientID           = "logship"
	DefaultAcks               = "all"
	DefaultCompression        = "lz4"
	DefaultLinger             = 10 * time.Millisecond
	DefaultBatchBytes         = 1 * MiB
	DefaultMaxRecordBytes     = 1 * MiB
	DefaultRequestTimeout     = 30 * time.Second
	DefaultRetryBackoff       = 100 * time.Millisecond
	DefaultRetryBackoffMax    = 10 * time.Second
	DefaultMetadataRefresh    = 5 * time.Second
	DefaultOversizeRecord     = "split"
	DefaultDeadLetterSubdir   = "dead-letter" // under agent.data_dir
	DefaultDeadLetterMaxBytes = 64 * MiB
	DefaultSourceHeaders      = true
	DefaultStartAt            = "beginning"
	DefaultFormat             = "raw"
	DefaultMaxLineBytes       = 1 * MiB
	DefaultOversizePolicy     = "split"
	DefaultKey                = "host"
	DefaultPartitioner        = "hash"
	DefaultSerializer         = "raw"
	DefaultRescanInterval     = 5 * time.Second
	DefaultCloseInactive      = 5 * time.Second
	DefaultForgetAfter        = 24 * time.Hour
	DefaultMaxOpenFiles       = 4096
	DefaultMultilineMaxLines  = 500
	DefaultMultilineTimeout   = 2 * time.Second
)

// defaultConfig returns the configuration every file is decoded into. host is
// the default agent.host (os.Hostname() for Load and Parse).
func defaultConfig(host string) Config {
	return Config{
		Agent: Agent{
			Host:               host,
			DataDir:            DefaultDataDir,
			MemoryLimit:        DefaultMemoryLimit,
			ShutdownTimeout:    DefaultShutdownTimeout,
			CheckpointInterval: DefaultCheckpointInterval,
			LogLevel:           DefaultLogLevel,
			LogFormat:          DefaultLogFormat,
		},
		HTTP: HTTP{Listen: DefaultListen, ReadyStall: DefaultReadyStall},
		Kafka: Kafka{
			ClientID:        DefaultClientID,
			Acks:            DefaultAcks,
			Compression:     DefaultCompression,
			Linger:          DefaultLinger,
			BatchBytes:      DefaultBatchBytes,
			MaxRecordBytes:  DefaultMaxRecordBytes,
			RequestTimeout:  DefaultRequestTimeout,
			RetryBackoff:    DefaultRetryBackoff,
			RetryBackoffMax: DefaultRetryBackoffMax,
			MetadataRefresh: DefaultMetadataRefresh,

			OversizeRecord:     DefaultOversizeRecord,
			DeadLetterMaxBytes: DefaultDeadLetterMaxBytes,
		},
	}
}

// defaultPipeline returns the value each pipelines[] entry is decoded into.
// Multiline defaults are pre-filled too and cleared again after decoding when
// no start_pattern is set.
func defaultPipeline() Pipeline {
	return Pipeline{
		StartAt:        DefaultStartAt,
		Format:         DefaultFormat,
		Multiline:      Multiline{MaxLines: DefaultMultilineMaxLines, Timeout: DefaultMultilineTimeout},
		MaxLineBytes:   DefaultMaxLineBytes,
		OversizePolicy: DefaultOversizePolicy,
		ForgetAfter:    DefaultForgetAfter,
		MaxOpenFiles:   DefaultMaxOpenFiles,
		Key:            DefaultKey,
		Partitioner:    DefaultPartitioner,
		Serializer:     DefaultSerializer,
		RescanInterval: DefaultRescanInterval,
		CloseInactive:  DefaultCloseInactive,

		SourceHeaders: DefaultSourceHeaders,
	}
}
