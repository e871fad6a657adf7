package main

import (
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/decode"
	"github.com/logship/logship/internal/pipeline"
	"github.com/logship/logship/internal/tailer"
)

// The mappings from a validated pipeline configuration onto each
// component's options, in one place: config parsed and checked every value
// once, so the components take typed values and validate no strings of
// their own. The producer's are in producerOptions. What is not the
// configuration's (sinks, loggers, metrics, the producer) is the caller's.

// tailerSettings maps pc onto the tailer's settings.
func tailerSettings(pc config.Pipeline) tailer.Settings {
	return tailer.Settings{
		Name: pc.Name, Paths: pc.Paths, Exclude: pc.Exclude, SymlinkRoots: pc.SymlinkRoots, StartAt: pc.StartAt,
		MaxLineBytes: int(pc.MaxLineBytes), OversizePolicy: pc.OversizePolicy, RescanInterval: pc.RescanInterval,
		CloseInactive: pc.CloseInactive, ForgetAfter: pc.ForgetAfter, MaxOpenFiles: pc.MaxOpenFiles,
	}
}

// decodeOptions maps pc onto the decoder's options.
func decodeOptions(pc config.Pipeline) decode.Options {
	return decode.Options{Name: pc.Name, Format: pc.Format, MaxLineBytes: int(pc.MaxLineBytes), Oversize: pc.OversizePolicy,
		Multiline: pc.Multiline}
}

// pipelineOptions maps pc onto the record builder's options.
func pipelineOptions(pc config.Pipeline) pipeline.Options {
	return pipeline.Options{
		Name: pc.Name, Topic: pc.Topic, Key: pc.Key, Partitioner: pc.Partitioner, Partition: pc.Partition,
		Serializer: pc.Serializer, Fields: pc.Fields, Headers: pc.Headers, SourceHeaders: pc.SourceHeaders,
	}
}
