package config

// The enumerated settings. Each is a string type whose values are the YAML
// spellings; validation (the one parse point: Load, Parse, Validate) rejects
// any other value, so the components that receive a validated Config switch
// on these constants and need no string validation of their own.

// Acks is kafka.acks: the acknowledgement the producer waits for. acks=none
// is not offered: the broker returns no offsets, so no line could ever be
// checkpointed.
type Acks string

const (
	AcksAll    Acks = "all"    // every in-sync replica (default)
	AcksLeader Acks = "leader" // the leader only; needs allow_unsafe_acks
)

// Compression is kafka.compression, the codec of produced batches.
type Compression string

const (
	CompressionNone   Compression = "none"
	CompressionGzip   Compression = "gzip"
	CompressionSnappy Compression = "snappy"
	CompressionLZ4    Compression = "lz4" // default
	CompressionZstd   Compression = "zstd"
)

// OversizeRecord is kafka.oversize_record: what happens to one record the
// broker rejects as larger than the topic's max.message.bytes.
type OversizeRecord string

const (
	OversizeRecordSplit      OversizeRecord = "split" // default
	OversizeRecordTruncate   OversizeRecord = "truncate"
	OversizeRecordDeadLetter OversizeRecord = "dead_letter"
)

// StartAt is pipelines[].start_at: where a file never seen before is read
// from.
type StartAt string

const (
	StartBeginning StartAt = "beginning" // default
	StartEnd       StartAt = "end"
)

// Format is pipelines[].format: how lines are decoded before shipping.
type Format string

const (
	FormatRaw    Format = "raw" // default: lines as they are
	FormatCRI    Format = "cri"
	FormatDocker Format = "docker"
)

// OversizePolicy is pipelines[].oversize_policy: what happens to a line
// longer than max_line_bytes.
type OversizePolicy string

const (
	OversizeSplit    OversizePolicy = "split" // default
	OversizeTruncate OversizePolicy = "truncate"
)

// Key is pipelines[].key: the Kafka record key.
type Key string

const (
	KeyHost   Key = "host" // default: agent.host
	KeySource Key = "source"
	KeyNone   Key = "none"
)

// Partitioner is pipelines[].partitioner: how records are spread over the
// topic's partitions.
type Partitioner string

const (
	PartitionerHash       Partitioner = "hash" // default
	PartitionerRoundRobin Partitioner = "round_robin"
	PartitionerFixed      Partitioner = "fixed"
)

// Serializer is pipelines[].serializer: the record value.
type Serializer string

const (
	SerializerRaw  Serializer = "raw" // default: the line's bytes
	SerializerJSON Serializer = "json"
)

// The values each setting accepts, in the order error messages list them.
var (
	acksValues           = []Acks{AcksAll, AcksLeader}
	compressionValues    = []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}
	oversizeRecordValues = []OversizeRecord{OversizeRecordSplit, OversizeRecordTruncate, OversizeRecordDeadLetter}
	startAtValues        = []StartAt{StartBeginning, StartEnd}
	formatValues         = []Format{FormatRaw, FormatCRI, FormatDocker}
	oversizePolicyValues = []OversizePolicy{OversizeSplit, OversizeTruncate}
	keyValues            = []Key{KeyHost, KeySource, KeyNone}
	partitionerValues    = []Partitioner{PartitionerHash, PartitionerRoundRobin, PartitionerFixed}
	serializerValues     = []Serializer{SerializerRaw, SerializerJSON}
)

// enumTypes names the enumerated types as yaml.v3 prints them, for its
// decoding errors ("a string", not "a mapping").
var enumTypes = map[string]bool{
	"config.Acks": true, "config.Compression": true, "config.OversizeRecord": true, "config.StartAt": true,
	"config.Format": true, "config.OversizePolicy": true, "config.Key": true, "config.Partitioner": true,
	"config.Serializer": true,
}
