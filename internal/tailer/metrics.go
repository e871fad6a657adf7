package tailer

import (
	"fmt"
	"maps"
	"sync"

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

// Metrics are the tailers' collectors, vectors with a pipeline label,
// registered once per process (by main) and shared by every Tailer: a
// tailer re-created by a reload counts into the same series, and nothing is
// registered again. Forget deletes a removed pipeline's series.
type Metrics struct {
	linesRead       *prometheus.CounterVec
	bytesRead       *prometheus.CounterVec
	filesOpen       *prometheus.GaugeVec
	rotations       *prometheus.CounterVec
	truncations     *prometheus.CounterVec
	linesSplit      *prometheus.CounterVec
	linesTruncated  *prometheus.CounterVec
	bytesTruncated  *prometheus.CounterVec
	discoveryErrs   *prometheus.CounterVec // pipeline, reason
	truncationLost  *prometheus.CounterVec
	copies          *prometheus.CounterVec
	forgottenUnread *prometheus.CounterVec
	openWaits       *prometheus.CounterVec
	emfile          *prometheus.CounterVec
	watchFallback   *prometheus.GaugeVec
	lag             *lagCollector
}

// NewMetrics builds the collectors and registers them with reg (nil: not
// registered, e.g. to validate a configuration). An error means reg already
// holds a conflicting collector; it is never swallowed.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	pipeline := []string{"pipeline"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, pipeline)
	}
	m := &Metrics{
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
		watchFallback: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logship_watch_fallback", Help: "1 while some matched directory has no fsnotify watch and relies on rescans alone.",
		}, pipeline),
		filesOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logship_files_open", Help: "Files currently held open by readers.",
		}, pipeline),
		discoveryErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logship_discovery_errors_total", Help: "Discovery, watch and read problems, by reason.",
		}, []string{"pipeline", "reason"}),
		lag: &lagCollector{
			desc: prometheus.NewDesc("logship_file_lag_bytes",
				"Bytes in known files not yet acknowledged (size - committed offset, summed).", pipeline, nil),
			funcs: map[string]func() float64{},
		},
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range m.all() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("tailer: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.linesRead, m.bytesRead, m.filesOpen, m.rotations, m.truncations, m.linesSplit,
		m.linesTruncated, m.bytesTruncated, m.discoveryErrs, m.truncationLost, m.copies, m.forgottenUnread,
		m.openWaits, m.emfile, m.watchFallback, m.lag}
}

// Forget deletes every series of the pipeline name: called when a reload
// removes the pipeline, after its tailer stopped.
func (m *Metrics) Forget(name string) {
	l := prometheus.Labels{"pipeline": name}
	for _, c := range []interface{ DeletePartialMatch(prometheus.Labels) int }{m.linesRead, m.bytesRead, m.filesOpen,
		m.rotations, m.truncations, m.linesSplit, m.linesTruncated, m.bytesTruncated, m.discoveryErrs,
		m.truncationLost, m.copies, m.forgottenUnread, m.openWaits, m.emfile, m.watchFallback} {
		c.DeletePartialMatch(l)
	}
	m.lag.forget(name)
}

// lagCollector is logship_file_lag_bytes: one series per pipeline, read at
// each scrape from the live state of the pipeline's latest tailer.
type lagCollector struct {
	desc *prometheus.Desc

	mu    sync.Mutex
	funcs map[string]func() float64 // pipeline → its tailer's lagBytes
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	funcs := maps.Clone(c.funcs)
	c.mu.Unlock()
	for name, f := range funcs { // called without c.mu: f takes the tailer's lock
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, f(), name)
	}
}

// set makes f the lag of pipeline name, replacing an older tailer's.
func (c *lagCollector) set(name string, f func() float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.funcs[name] = f
}

func (c *lagCollector) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.funcs, name)
}

// metrics are one Tailer's collectors, curried from Metrics.
type metrics struct {
	linesRead       prometheus.Counter
	bytesRead       prometheus.Counter
	filesOpen       prometheus.Gauge
	rotations       prometheus.Counter
	truncations     prometheus.Counter
	linesSplit      prometheus.Counter
	linesTruncated  prometheus.Counter
	bytesTruncated  prometheus.Counter
	discoveryErrs   *prometheus.CounterVec // curried: reason
	truncationLost  prometheus.Counter
	copies          prometheus.Counter
	forgottenUnread prometheus.Counter
	openWaits       prometheus.Counter
	emfile          prometheus.Counter
	watchFallback   prometheus.Gauge
}

// pipeline returns the counters of the pipeline name, every discovery error
// reason initialised so that it is exported at 0.
func (m *Metrics) pipeline(name string) *metrics {
	pm := &metrics{
		linesRead:       m.linesRead.WithLabelValues(name),
		bytesRead:       m.bytesRead.WithLabelValues(name),
		filesOpen:       m.filesOpen.WithLabelValues(name),
		rotations:       m.rotations.WithLabelValues(name),
		truncations:     m.truncations.WithLabelValues(name),
		linesSplit:      m.linesSplit.WithLabelValues(name),
		linesTruncated:  m.linesTruncated.WithLabelValues(name),
		bytesTruncated:  m.bytesTruncated.WithLabelValues(name),
		discoveryErrs:   m.discoveryErrs.MustCurryWith(prometheus.Labels{"pipeline": name}),
		truncationLost:  m.truncationLost.WithLabelValues(name),
		copies:          m.copies.WithLabelValues(name),
		forgottenUnread: m.forgottenUnread.WithLabelValues(name),
		openWaits:       m.openWaits.WithLabelValues(name),
		emfile:          m.emfile.WithLabelValues(name),
		watchFallback:   m.watchFallback.WithLabelValues(name),
	}
	for _, r := range []string{reasonNotRegular, reasonSymlink, reasonOutside, reasonStat, reasonOpen, reasonGoneParked, reasonRead, reasonWatcher, reasonWatchAdd, reasonOverflow, reasonWatchError,
		reasonDirPermission, reasonDirEMFILE, reasonDirRead} {
		pm.discoveryErrs.WithLabelValues(r)
	}
	return pm
}
