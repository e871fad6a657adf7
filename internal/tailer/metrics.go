package tailer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of logship_discovery_errors_total.
const (
	reasonNotRegular = "not_regular"           // matched a directory, FIFO, socket or device
	reasonSymlink    = "symlink"               // dangling symlink or one to a non-regular file
	reasonStat       = "stat"                  // stat failed for another reason
	reasonOpen       = "open"                  // open failed (e.g. permission denied)
	reasonOutside    = "symlink_outside_roots" // resolves (through a symlinked file or directory) outside the globs' directories
	reasonRead       = "read"                  // read or fstat of an open file failed
	reasonGoneParked = "gone_while_closed"     // renamed away or deleted while closed for the descriptor budget
	reasonWatcher    = "watcher"               // fsnotify watcher could not be created
	reasonWatchAdd   = "watch_add"             // a directory watch could not be added (ENOSPC, EMFILE, ...)
	reasonOverflow   = "watch_overflow"
	reasonWatchError = "watch_error"

	reasonDirPermission = "dir_permission" // a directory of the globs cannot be listed: permission denied
	reasonDirEMFILE     = "dir_emfile"     // ... out of descriptors (retried at the next rescan)
	reasonDirRead       = "dir_read"       // ... another error (I/O error, ...)
)

// metrics are one tailer's collectors; every one carries the constant label
// pipeline=<name>, so several tailers can share a registry.
type metrics struct {
	linesRead      prometheus.Counter
	bytesRead      prometheus.Counter
	filesOpen      prometheus.Gauge
	rotations      prometheus.Counter
	truncations    prometheus.Counter
	linesSplit     prometheus.Counter
	linesTruncated prometheus.Counter
	bytesTruncated prometheus.Counter
	discoveryErrs  *prometheus.CounterVec
	lag            prometheus.GaugeFunc

	truncationLost  prometheus.Counter
	copies          prometheus.Counter
	forgottenUnread prometheus.Counter
	openWaits       prometheus.Counter
	emfile          prometheus.Counter
	watchFallback   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, pipeline string, lag func() float64) (*metrics, error) {
	cl := prometheus.Labels{"pipeline": pipeline}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: cl})
	}
	m := &metrics{
		linesRead:      counter("logship_lines_read_total", "Lines and line parts read from files and handed to the pipeline."),
		bytesRead:      counter("logship_bytes_read_total", "File bytes consumed by readers (newlines and discarded bytes included)."),
		rotations:      counter("logship_rotations_total", "Paths that started pointing to a new file (rename or delete + create)."),
		truncations:    counter("logship_truncations_total", "Files found truncated or rewritten in place; they restart at offset 0."),
		linesSplit:     counter("logship_lines_split_total", "Lines longer than max_line_bytes split into parts (oversize_policy split)."),
		linesTruncated: counter("logship_lines_truncated_total", "Lines longer than max_line_bytes truncated (oversize_policy truncate)."),
		bytesTruncated: counter("logship_truncated_bytes_total", "Bytes discarded by oversize_policy truncate."),
		truncationLost: counter("logship_truncation_lost_bytes_total",
			"Bytes of truncated files known to have existed but read from neither the file nor a recognised copy "+
				"(a lower bound: bytes written and truncated between two looks are invisible)."),
		forgottenUnread: counter("logship_forgotten_unread_bytes_total",
			"Bytes that files not found for forget_after (deleted or moved out of the globs while unread, e.g. while the agent "+
				"was stopped) held beyond what was read, by their last known size."),
		copies: counter("logship_copies_recognised_total",
			"New files recognised by their first bytes as copies of a known file (copytruncate); read from where the original stopped."),
		openWaits: counter("logship_open_budget_waits_total",
			"Times a file had to wait for a descriptor of max_open_files (or after EMFILE)."),
		emfile: counter("logship_open_emfile_total", "Opens that failed with EMFILE or ENFILE (retried at later rescans)."),
		watchFallback: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logship_watch_fallback", Help: "1 while some matched directory has no fsnotify watch and relies on rescans alone.", ConstLabels: cl,
		}),
		filesOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logship_files_open", Help: "Files currently held open by readers.", ConstLabels: cl,
		}),
		discoveryErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_discovery_errors_total", Help: "Discovery, watch and read problems, by reason.", ConstLabels: cl,
		}, []string{"reason"}),
		lag: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "logship_file_lag_bytes", Help: "Bytes in known files not yet acknowledged (size - committed offset, summed).", ConstLabels: cl,
		}, lag),
	}
	for _, r := range []string{reasonNotRegular, reasonSymlink, reasonOutside, reasonStat, reasonOpen, reasonGoneParked, reasonRead, reasonWatcher, reasonWatchAdd, reasonOverflow, reasonWatchError,
		reasonDirPermission, reasonDirEMFILE, reasonDirRead} {
		m.discoveryErrs.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.linesRead = register(reg, m.linesRead, &err)
	m.bytesRead = register(reg, m.bytesRead, &err)
	m.rotations = register(reg, m.rotations, &err)
	m.truncations = register(reg, m.truncations, &err)
	m.linesSplit = register(reg, m.linesSplit, &err)
	m.linesTruncated = register(reg, m.linesTruncated, &err)
	m.bytesTruncated = register(reg, m.bytesTruncated, &err)
	m.filesOpen = register(reg, m.filesOpen, &err)
	m.truncationLost = register(reg, m.truncationLost, &err)
	m.copies = register(reg, m.copies, &err)
	m.forgottenUnread = register(reg, m.forgottenUnread, &err)
	m.openWaits = register(reg, m.openWaits, &err)
	m.emfile = register(reg, m.emfile, &err)
	m.watchFallback = register(reg, m.watchFallback, &err)
	m.discoveryErrs = register(reg, m.discoveryErrs, &err)
	if err != nil {
		return nil, err
	}
	// A gauge func reads this tailer's state: replace an older one.
	if e := reg.Register(m.lag); e != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(e, &are) {
			return nil, fmt.Errorf("tailer: register metrics: %w", e)
		}
		reg.Unregister(are.ExistingCollector)
		if e := reg.Register(m.lag); e != nil {
			return nil, fmt.Errorf("tailer: register metrics: %w", e)
		}
	}
	return m, nil
}

// register registers c on reg. When an equal collector is already registered
// (the same pipeline name, e.g. a tailer re-created in the same process) it
// returns that one so counting continues in the existing series. The first
// other error is stored in *errp.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if *errp != nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	*errp = fmt.Errorf("tailer: register metrics: %w", err)
	return c
}
