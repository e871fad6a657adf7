package tailer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
	"github.com/logship/logship/internal/logthrottle"
)

// Defaults for zero Options fields. Zero Pipeline fields take the config
// package's defaults (config.DefaultMaxOpenFiles, ...), their one source.
const (
	DefaultReadBufferBytes = 64 << 10
	DefaultPollMin         = 250 * time.Millisecond
	DefaultPollMax         = 2 * time.Second
	DefaultMaxWindow       = 1 << 16

	// fairSlice is how long a reader keeps its descriptor while other files
	// wait for one, before it yields at a line boundary.
	fairSlice = time.Second

	maxMaxLineBytes = 1 << 30
	rescanDebounce  = 50 * time.Millisecond
	// handoverEvery spaces the rescans that only hand descriptors on (a
	// reader closed for a waiting file, a write to a parked file): with
	// more busy files than max_open_files they were asked for all the time,
	// and each one globs and stats every file.
	handoverEvery = 250 * time.Millisecond
)

// Settings are the settings of one pipeline's files, validated and typed
// (main builds them once from the configuration; see config.Pipeline for
// each). Zero values take the config defaults. Format and Multiline are the
// decoder's business.
type Settings struct {
	Name           string
	Paths          []string // absolute filepath.Match globs
	Exclude        []string
	SymlinkRoots   []string
	StartAt        config.StartAt        // "": beginning
	MaxLineBytes   int                   // longer lines follow OversizePolicy
	OversizePolicy config.OversizePolicy // "": split
	RescanInterval time.Duration
	CloseInactive  time.Duration
	// ForgetAfter is how long an entry whose file is not found any more (a
	// restored entry never matched, or a closed generation whose file is not
	// at any matched path) stays in Snapshot, measured from
	// FileState.Updated / the last time the file was seen. Closed
	// generations of unlinked files are dropped sooner: once acknowledged up
	// to their end and reported by one Snapshot.
	//
	// MaxOpenFiles bounds the descriptors held by this tailer's readers (it
	// is lowered to half the process's RLIMIT_NOFILE). When more files want
	// to be read, readers of live files at EOF, or reading for longer than
	// one fair slice, close their descriptor (keeping their state) and the
	// waiting files are opened oldest-waiting first. A rotated or deleted
	// file is never closed before it is drained.
	ForgetAfter  time.Duration
	MaxOpenFiles int
}

// Options configure one Tailer (one pipeline). Pipeline, Budget and Sink are
// required; zero values of the other fields take the defaults above.
type Options struct {
	// Pipeline is the pipeline's settings the tailer uses.
	Pipeline Settings
	// Budget is the agent-wide byte budget; readers Acquire before reading
	// and the trackers release bytes as lines are acknowledged.
	Budget *checkpoint.Budget
	// Sink receives the lines; it owns their Acks from the call to Emit on,
	// and abandons those it cannot deliver when Emit fails (see Sink).
	Sink Sink
	// Restore holds this pipeline's persisted entries; entries of other
	// pipelines are ignored. A discovered file whose identity matches an
	// entry resumes at its Offset.
	Restore []checkpoint.FileState
	// Handover is what a predecessor of this pipeline (a reload) knew
	// beyond its checkpoint entries; see Tailer.Handover. Zero: nothing.
	Handover Handover
	// Logger is enriched with component=tailer and pipeline; nil discards.
	Logger *slog.Logger
	// Metrics are the collectors the tailer counts into under the label
	// pipeline=<name>, shared by all tailers (see NewMetrics); nil: counted
	// into collectors nobody gathers (validation).
	Metrics *Metrics
	// Persist saves the checkpoint now (typically Flusher.Flush; this
	// tailer must be one of its sources). With start_at: end, a rescan
	// that registers files without a checkpoint entry (present at
	// start-up, new, or a copy waiting for its original's lines) calls it
	// before their readers start, so that a restart after a crash never
	// takes a file this run already began for one present at start-up and
	// skips it to its end. nil: not called (a crash within a checkpoint
	// interval of such a file's discovery may then skip it).
	Persist func() error

	// ReadBufferBytes is each reader's read size (default 64 KiB). Lines
	// longer than it are read with a temporary larger buffer, up to
	// MaxLineBytes+1.
	ReadBufferBytes int
	// PollMin and PollMax bound the poll interval of a reader at EOF: it
	// starts at PollMin and doubles while the file stays idle (defaults
	// 250ms and 2s). fsnotify events wake readers sooner.
	PollMin, PollMax time.Duration
	// MaxWindow caps the records of one file added and not yet committed
	// (tracker Window); a reader pauses at the cap so a withheld
	// acknowledgement cannot let it run ahead without bound (default 65536).
	MaxWindow int
}

// Tailer discovers the files of one pipeline and runs one reader goroutine
// per open file generation. Create it with New, run it with Run, and read its
// checkpoint state with Snapshot.
type Tailer struct {
	name      string
	patterns  []string
	dirPats   []string // filepath.Dir of each pattern, for directory watches
	excludes  []string
	startEnd  bool
	maxLine   int
	truncate  bool
	rescan    time.Duration
	closeIdle time.Duration
	bufSize   int
	pollMin   time.Duration
	pollMax   time.Duration
	forget    time.Duration
	maxWindow int
	conf      confiner // resolves and opens matches inside the globs' static directories

	// slots is the open-descriptor budget (capacity max_open_files): a
	// token is taken before a file is opened and returned when its reader
	// closes it. openWaiting is the number of files the last rescan could
	// not open for lack of a token; readers yield while it is positive.
	slots       chan struct{}
	openWaiting atomic.Int64

	// bufs pools the ReadBufferBytes read buffers: a reader holds one only
	// during a read, so buffer memory follows concurrent reads, not files.
	bufs sync.Pool

	budget  *checkpoint.Budget
	sink    Sink
	persist func() error // Options.Persist, nil unless start_at: end
	log     *slog.Logger
	m       *metrics

	started atomic.Bool
	wg      sync.WaitGroup // reader goroutines

	failOnce sync.Once
	failErr  error
	cancel   context.CancelFunc

	rescanReq   chan struct{} // capacity 1: event loop → Run loop
	handoverReq chan struct{} // capacity 1: readers, event loop → Run loop

	// mu guards the maps and slices below. The Run goroutine mutates them;
	// readers add ghosts and withdraw a generation they hand back
	// (reconsider); the event loop, Snapshot, Status and the lag gauge read
	// them.
	//
	// Lock order: t.mu, then a generation's g.mu, then the locks inside
	// checkpoint (Tracker, Budget), which take no other lock. Nothing holds
	// g.mu while taking t.mu. Sink.Emit, Budget.Acquire and Persist are
	// called with no tailer lock held.
	mu       sync.Mutex
	gens     map[fileKey]*generation
	byPath   map[string]*generation
	restored map[fileKey]checkpoint.FileState
	ghosts   []ghost          // contents truncated away, for recognising their copies
	dirErrs  []DiscoveryError // directories the last rescan could not list
	// copyWaits are the copies of truncated contents waiting for the
	// original's lines to be acknowledged (see copyStart): Snapshot reports
	// each at what was acknowledged of the original, so that a restart
	// resumes it there instead of treating it as a new file.
	copyWaits map[fileKey]copyWait

	// logs keeps repeated warnings (the logPersist, logEMFILE and logWatch
	// conditions) to one line per minute each. Safe for concurrent use.
	logs *logthrottle.Throttle

	// State owned by the Run goroutine (no lock).
	scans       int
	pathKeys    map[string]pathKey       // last file seen at each path, to count rotations
	skipped     map[string]string        // path → reason, counted and logged once
	openFailed  map[string]bool          // path → open failure logged once
	watchFailed map[string]bool          // directory → watch failure logged once
	dirFailing  map[string]*dirErrState  // directory → listing failure logged and counted
	waiting     map[string]time.Time     // path → since when it waits for a descriptor
	copyPending map[fileKey]time.Time    // new file equal to a live one: since when deferred
	fpIndex     map[string][]*generation // see indexFingerprints; nil until needed in a rescan
	// held start the readers of the files the current rescan registered
	// without a checkpoint entry, once persist saved them (see
	// startHeld); unsaved: the rescan added an entry of its own (a copy
	// waiting for its original).
	held    []func()
	unsaved bool
}

// Conditions of Tailer.logs.
const (
	logPersist = "persist"
	logEMFILE  = "emfile"
	logWatch   = "watch"
)

// ghost is the content of a file generation that was truncated or rewritten
// in place: its first bytes, how far it was read and how large it was last
// seen. A new file starting with the same fingerprintMax bytes is its copy
// (copytruncate) when, if it reaches readEnd, its bytes before readEnd also
// equal tail; it is read from readEnd, so nothing is shipped twice; what was
// neither read nor copied is counted as lost. The copy is opened only once
// every line read from the original is acknowledged, so that its checkpoint
// (readEnd) is never ahead of Kafka.
type ghost struct {
	fp       string
	fpLen    int
	readEnd  int64
	lastSize int64
	tail     []byte              // bytes just before readEnd (may be empty)
	tracker  *checkpoint.Tracker // the content's lines in flight; a copy waits until none are pending
	path     string
	at       time.Time
}

// copyWait is a copy of a truncated content that is not read yet because
// lines read from the original are not acknowledged yet (ghost.tracker).
type copyWait struct {
	path     string
	fp       string // of its first fingerprintMax bytes
	size     int64
	original *checkpoint.Tracker
	seen     time.Time
}

// pathKey is the file last seen at a path, and when.
type pathKey struct {
	key  fileKey
	seen time.Time
}

// genState is where a generation is in its reader's life. Transitions, all
// under g.mu:
//
//	held → open                 startReader, once Persist saved its entry
//	parked, parkedGone, closed → open   startReader: reopened by a rescan
//	open → draining             rescan: not found at any matched path
//	draining → open             rescan: found again (renamed back)
//	open → parked               the reader yields its descriptor (mayPark)
//	open, draining → closed     the reader exits: drained after rotation or
//	                            deletion, read error, hand-back, shutdown
//	draining → parkedGone       the reader yielded as the rescan found it gone
//	parked → parkedGone         rescan: not found at any matched path
//	parkedGone → parked         rescan: found again
type genState uint8

const (
	genHeld       genState = iota // registered, its reader not started yet (waits for Options.Persist)
	genOpen                       // a reader owns an open descriptor; the file is at a matched path
	genDraining                   // a reader owns an open descriptor; not at any matched path: read to its end, then closed
	genParked                     // closed at a line boundary to free a descriptor; reopened when it changes
	genParkedGone                 // parked, then not found at any matched path: later writes to it are not read
	genClosed                     // its reader exited (see closed above); reopened if found again
)

// running reports whether a reader goroutine owns an open descriptor.
func (s genState) running() bool { return s == genOpen || s == genDraining }

// atPath reports whether the generation's file was at a matched path when
// last seen: open, held, parked or closed, but not draining or parked and
// gone.
func (s genState) atPath() bool { return s != genDraining && s != genParkedGone }

// parked reports whether the generation was closed for the descriptor
// budget.
func (s genState) parked() bool { return s == genParked || s == genParkedGone }

// generation is one file generation (device, inode, content since the last
// truncation) and the state its reader shares with the tailer.
type generation struct {
	key  fileKey
	wake chan struct{} // capacity 1; fsnotify hints and rescans signal the reader
	// recheck asks the reader to compare the file's first bytes at its next
	// look even if it verified them moments ago: set with every signal
	// except a plain write event (see reader.refresh).
	recheck atomic.Bool

	mu        sync.Mutex
	path      string
	src       *Source
	tracker   *checkpoint.Tracker
	fp        string
	fpLen     int
	size      int64
	state     genState
	goneSince time.Time // when it was last found gone (draining, parkedGone)
	lastSeen  time.Time // last rescan that found the file
	readEnd   int64     // where a new reader resumes; valid while !state.running()
	scanEnd   int64     // how far the last reader had read (a held partial line included); valid while !state.running()
	tail      []byte    // up to fingerprintMax bytes just before readEnd; valid while !state.running()
	// Facts beside the state: unlinked, the link count was 0 when the
	// reader closed the file; reported, closed, unlinked, drained and
	// included in a Snapshot: forget it.
	unlinked bool
	reported bool
}

// signal wakes the generation's reader without blocking and asks it to
// recheck the file's identity (first bytes): for rescans and fsnotify events
// other than writes.
func (g *generation) signal() {
	g.recheck.Store(true)
	g.signalWrite()
}

// signalWrite wakes the generation's reader without blocking, for a write
// event: the reader looks at the size, and a read that follows checks the
// first bytes anyway.
func (g *generation) signalWrite() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// New validates opts and returns a Tailer. It registers the metrics but
// opens no file, watch or goroutine. Errors name the invalid settings.
func New(opts Options) (*Tailer, error) {
	p := opts.Pipeline
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if p.Name == "" {
		bad("name is empty")
	}
	if len(p.Paths) == 0 {
		bad("paths is empty")
	}
	t := &Tailer{
		name:        p.Name,
		budget:      opts.Budget,
		sink:        opts.Sink,
		rescanReq:   make(chan struct{}, 1),
		handoverReq: make(chan struct{}, 1),
		gens:        make(map[fileKey]*generation),
		byPath:      make(map[string]*generation),
		restored:    make(map[fileKey]checkpoint.FileState),
		skipped:     make(map[string]string),
		pathKeys:    make(map[string]pathKey),
		openFailed:  make(map[string]bool),
		watchFailed: make(map[string]bool),
		dirFailing:  make(map[string]*dirErrState),
		waiting:     make(map[string]time.Time),
		copyPending: make(map[fileKey]time.Time),
		copyWaits:   make(map[fileKey]copyWait),
		logs:        logthrottle.New(time.Minute, nil),
	}
	for _, pat := range p.Paths {
		if !filepath.IsAbs(pat) {
			bad("path %q is not absolute", pat)
			continue
		}
		if _, err := filepath.Match(pat, ""); err != nil {
			bad("path %q: %w", pat, err)
			continue
		}
		pat = filepath.Clean(pat)
		t.patterns = append(t.patterns, pat)
		if d := filepath.Dir(pat); !slices.Contains(t.dirPats, d) {
			t.dirPats = append(t.dirPats, d)
		}
		if r := staticRoot(pat); !slices.Contains(t.conf.roots, r) {
			t.conf.roots = append(t.conf.roots, r)
		}
	}
	for _, d := range p.SymlinkRoots {
		if !filepath.IsAbs(d) || filepath.Clean(d) == "/" || hasMeta(d) {
			bad("symlink_roots %q: want an absolute directory other than /", d)
			continue
		}
		if d = filepath.Clean(d); !slices.Contains(t.conf.roots, d) {
			t.conf.roots = append(t.conf.roots, d)
		}
	}
	for _, ex := range p.Exclude {
		if _, err := filepath.Match(ex, ""); err != nil {
			bad("exclude %q: %w", ex, err)
			continue
		}
		t.excludes = append(t.excludes, ex)
	}
	// The enumerations were validated by config; an impossible value is an
	// error, not a panic.
	switch p.StartAt {
	case "", config.StartBeginning:
	case config.StartEnd:
		t.startEnd = true
	default:
		bad("start_at %q: want beginning or end", p.StartAt)
	}
	switch p.OversizePolicy {
	case "", config.OversizeSplit:
	case config.OversizeTruncate:
		t.truncate = true
	default:
		bad("oversize_policy %q: want split or truncate", p.OversizePolicy)
	}
	switch {
	case p.MaxLineBytes == 0:
		t.maxLine = int(config.DefaultMaxLineBytes)
	case p.MaxLineBytes < 0 || p.MaxLineBytes > maxMaxLineBytes:
		bad("max_line_bytes %d: want 1..%d", p.MaxLineBytes, maxMaxLineBytes)
	default:
		t.maxLine = int(p.MaxLineBytes)
	}
	t.rescan = orDefault(p.RescanInterval, config.DefaultRescanInterval, "rescan_interval", bad)
	t.closeIdle = orDefault(p.CloseInactive, config.DefaultCloseInactive, "close_inactive", bad)
	t.pollMin = orDefault(opts.PollMin, DefaultPollMin, "poll_min", bad)
	t.pollMax = max(t.pollMin, orDefault(opts.PollMax, DefaultPollMax, "poll_max", bad))
	t.forget = orDefault(p.ForgetAfter, config.DefaultForgetAfter, "forget_after", bad)
	maxOpen := orDefault(p.MaxOpenFiles, config.DefaultMaxOpenFiles, "max_open_files", bad)
	if lim := fdLimit(); lim > 0 {
		maxOpen = max(1, min(maxOpen, lim/2))
	}
	t.slots = make(chan struct{}, maxOpen)
	t.bufSize = orDefault(opts.ReadBufferBytes, DefaultReadBufferBytes, "read_buffer_bytes", bad)
	t.bufs.New = func() any {
		b := make([]byte, t.bufSize)
		return &b
	}
	t.maxWindow = orDefault(opts.MaxWindow, DefaultMaxWindow, "max_window", bad)
	if opts.Budget == nil {
		bad("budget is nil")
	}
	if opts.Sink == nil {
		bad("sink is nil")
	}
	if t.startEnd {
		t.persist = opts.Persist
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("tailer: pipeline %q: %w", p.Name, err)
	}

	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t.log = logger.With("component", "tailer", "pipeline", p.Name)

	t.ghosts = slices.Clone(opts.Handover.ghosts)
	now := time.Now()
	for _, st := range opts.Restore {
		if st.Pipeline != "" && st.Pipeline != p.Name {
			continue
		}
		st.Pipeline = p.Name
		if st.Updated.IsZero() {
			st.Updated = now
		}
		k := fileKey{st.Device, st.Inode}
		if old, ok := t.restored[k]; ok && old.Updated.After(st.Updated) {
			continue
		}
		t.restored[k] = st
	}

	m := opts.Metrics
	if m == nil {
		m, _ = NewMetrics(nil) // validation only: counts into nothing gathered
	}
	t.m = m.pipeline(p.Name)
	m.lag.set(p.Name, t.lagBytes)
	return t, nil
}

// orDefault returns v, or def when v is zero; negative values are reported.
func orDefault[T int | time.Duration](v, def T, name string, bad func(string, ...any)) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		bad("%s %v: must not be negative", name, v)
		return def
	}
	return v
}

// Run discovers and reads files until ctx is done. It then stops every
// reader (a reader blocked in Sink.Emit or Budget.Acquire unblocks through
// ctx) and returns once all its goroutines have exited. It returns nil after
// ctx is done, or an error when the sink violated its contract by failing
// with something other than a context error. Run may be called once.
func (t *Tailer) Run(ctx context.Context) error {
	if !t.started.CompareAndSwap(false, true) {
		return fmt.Errorf("tailer: pipeline %q: Run called twice", t.name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t.cancel = cancel

	var events sync.WaitGroup
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.m.discoveryErrs.WithLabelValues(reasonWatcher).Inc()
		t.log.Warn("file watcher unavailable, relying on rescans", "error", err, "rescan_interval", t.rescan)
		w = nil
	} else {
		// Exits when ctx is done (or fsnotify closes its channels).
		events.Go(func() { t.watchEvents(ctx, w) })
	}

	t.rescanOnce(ctx, w)
	last := time.Now()
	ticker := time.NewTicker(t.rescan)
	defer ticker.Stop()
	// debounce fires the requested rescan, due at debounceAt: a discovery
	// request makes it due within rescanDebounce, a hand-over request no
	// sooner than handoverEvery after the last rescan.
	var debounce <-chan time.Time
	var debounceAt time.Time
	schedule := func(d time.Duration) {
		debounce, debounceAt = time.After(d), time.Now().Add(d)
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ticker.C:
			t.rescanOnce(ctx, w)
			last = time.Now()
		case <-t.rescanReq:
			if debounce == nil || time.Until(debounceAt) > rescanDebounce {
				schedule(rescanDebounce)
			}
		case <-t.handoverReq:
			if debounce == nil {
				schedule(max(rescanDebounce, handoverEvery-time.Since(last)))
			}
		case <-debounce:
			debounce = nil
			t.rescanOnce(ctx, w)
			last = time.Now()
		}
	}

	cancel()
	events.Wait()
	if w != nil {
		if err := w.Close(); err != nil {
			t.log.Debug("closing file watcher failed", "error", err)
		}
	}
	t.wg.Wait()
	return t.failErr
}

// fail records a fatal error and stops Run. Called from reader goroutines.
func (t *Tailer) fail(err error) {
	t.failOnce.Do(func() {
		t.failErr = err
		t.cancel()
	})
}

// requestRescan asks the Run loop for a debounced rescan (within
// rescanDebounce), for discovery: a new, renamed or removed path. Never
// blocks.
func (t *Tailer) requestRescan() {
	select {
	case t.rescanReq <- struct{}{}:
	default:
	}
}

// requestHandover asks the Run loop for a rescan that hands descriptors on
// (opens waiting or parked files), at most every handoverEvery. Never
// blocks.
func (t *Tailer) requestHandover() {
	select {
	case t.handoverReq <- struct{}{}:
	default:
	}
}

// Handover is what a stopped tailer passes to its successor (a reload)
// beyond its checkpoint entries: the contents truncated away whose copies
// may still appear (copytruncate), so that a copy the successor finds is
// still read from where the original's reading stopped. The zero value
// passes nothing.
type Handover struct{ ghosts []ghost }

// Handover returns what the successor of this tailer needs beyond
// Snapshot. Call it after Run has returned (a reload's successor); safe
// from any goroutine.
func (t *Tailer) Handover() Handover {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Handover{ghosts: slices.Clone(t.ghosts)}
}

// Snapshot returns one entry per known file generation: its identity, the
// committed offset of its tracker (never beyond what was acknowledged) and
// its last known size; plus the restored entries whose files have not been
// found (yet), and the copies of truncated contents waiting for the
// original's lines to be acknowledged, at the original's committed offset
// (their bytes up to the original's read offset are the same). Entries are
// sorted by path. Safe from any goroutine, also
// before Run and after it returned (acknowledgements may still arrive).
//
// Snapshot is meant for the single checkpoint writer: a drained generation of
// an unlinked file is returned once more and then forgotten.
func (t *Tailer) Snapshot() []checkpoint.FileState {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]checkpoint.FileState, 0, len(t.gens)+len(t.restored)+len(t.copyWaits))
	for _, g := range t.gens {
		g.mu.Lock()
		st := checkpoint.FileState{
			Pipeline:       t.name,
			Path:           g.path,
			Device:         g.key.dev,
			Inode:          g.key.ino,
			Fingerprint:    g.fp,
			FingerprintLen: g.fpLen,
			Offset:         g.tracker.Committed(),
			Size:           g.size,
			Updated:        g.lastSeen,
		}
		if g.state.running() {
			st.Updated = now
		} else if g.unlinked && g.tracker.Pending() == 0 {
			g.reported = true
		}
		g.mu.Unlock()
		out = append(out, st)
	}
	for _, st := range t.restored {
		out = append(out, st)
	}
	for k, cw := range t.copyWaits {
		out = append(out, checkpoint.FileState{
			Pipeline:       t.name,
			Path:           cw.path,
			Device:         k.dev,
			Inode:          k.ino,
			Fingerprint:    cw.fp,
			FingerprintLen: fingerprintMax,
			Offset:         cw.original.Committed(),
			Size:           cw.size,
			Updated:        cw.seen,
		})
	}
	slices.SortFunc(out, func(a, b checkpoint.FileState) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Device, b.Device), cmp.Compare(a.Inode, b.Inode))
	})
	return out
}

// lagBytes is the logship_file_lag_bytes gauge: bytes of known generations
// not yet acknowledged. Called by the metrics registry on scrape.
func (t *Tailer) lagBytes() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lag int64
	for _, g := range t.gens {
		g.mu.Lock()
		lag += max(0, g.size-g.tracker.Committed())
		g.mu.Unlock()
	}
	return float64(lag)
}
