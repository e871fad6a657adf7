package soak

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// prefixMax is how many leading bytes of every generation are kept to
// compute the agent's fingerprints (far more than it hashes).
const prefixMax = 64 << 10

// gen is one file generation: an inode with content written from offset 0.
// A rename keeps the generation (only the path changes); a truncation or a
// new file starts another. A copy made by copytruncate is a generation of its
// own holding the same lines.
type gen struct {
	id      int
	file    int // logical file the lines belong to
	path    string
	dev     uint64
	inode   uint64
	f       *os.File // write descriptor; nil once closed
	size    int64
	ends    []int64 // end offset of every line, ascending
	seqs    []int   // sequence number of every line
	prefix  []byte
	gone    bool // unlinked or truncated: its content exists nowhere now
	copied  bool // made by copytruncate
	retired bool // no longer written
}

// fingerprint returns the hex SHA-256 of the first n bytes, or "" when the
// generation is shorter.
func (g *gen) fingerprint(n int) string {
	if n > len(g.prefix) {
		return ""
	}
	s := sha256.Sum256(g.prefix[:n])
	return hex.EncodeToString(s[:])
}

// logical is one log file name and the line numbering that survives its
// rotations.
type logical struct {
	idx      int
	name     string
	cur      *gen
	late     *gen // renamed generation still written through its old fd
	lateLeft int
	next     int
	rate     float64
	acc      float64
	payload  []byte
	rotated  int
	frozen   bool // a fault waits for its lines to be shipped
	retired  bool
}

// writer is the ground truth: it appends "<file> <seq> <payload>\n" lines,
// performs the file faults, and records every complete line written in the
// ledger (memory, and ledger.tsv in the work dir).
type writer struct {
	dir string

	mu       sync.Mutex
	files    []*logical
	gens     []*gen
	ledger   *bufio.Writer
	ledgerF  *os.File
	excused  map[[2]int]bool // lines written in a copytruncate window
	exBytes  int64
	payloads []int

	total atomic.Int64
}

func newWriter(dir, workDir string, s Schedule) (*writer, error) {
	lf, err := os.Create(filepath.Join(workDir, "ledger.tsv"))
	if err != nil {
		return nil, fmt.Errorf("soak: ledger: %w", err)
	}
	w := &writer{dir: dir, ledgerF: lf, ledger: bufio.NewWriterSize(lf, 1<<20), excused: map[[2]int]bool{}, payloads: s.Payloads}
	fmt.Fprintln(w.ledger, "# gen\tfile\tinode\tpath\toffset\tfirst_seq\tlines\tbytes")
	for i, r := range s.Rates {
		if err := w.addFile(i, r); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range w.gens {
		if g.f != nil {
			g.f.Close()
			g.f = nil
		}
	}
	w.ledger.Flush()
	w.ledgerF.Close()
}

// addFile creates logical file i (must be the next index).
func (w *writer) addFile(i, rate int) error {
	if i != len(w.files) || i >= len(w.payloads) {
		return fmt.Errorf("soak: file %d out of order", i)
	}
	l := &logical{idx: i, name: fmt.Sprintf("app-%02d.log", i), rate: float64(rate),
		payload: bytes.Repeat([]byte{'a' + byte(i%26)}, w.payloads[i])}
	w.files = append(w.files, l)
	g, err := w.create(l)
	if err != nil {
		return err
	}
	l.cur = g
	return nil
}

func (w *writer) create(l *logical) (*gen, error) {
	p := filepath.Join(w.dir, l.name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("soak: create %s: %w", p, err)
	}
	g := &gen{id: len(w.gens), file: l.idx, path: p, f: f}
	if err := g.stat(); err != nil {
		return nil, err
	}
	w.gens = append(w.gens, g)
	return g, nil
}

func (g *gen) stat() error {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(g.f.Fd()), &st); err != nil {
		return fmt.Errorf("soak: stat %s: %w", g.path, err)
	}
	g.dev, g.inode = uint64(st.Dev), st.Ino
	return nil
}

// appendLines writes n lines of l to g in one write call.
func (w *writer) appendLines(l *logical, g *gen, n int) error {
	if n <= 0 {
		return nil
	}
	var buf bytes.Buffer
	first, off := l.next, g.size
	for range n {
		buf.WriteString(strconv.Itoa(l.idx))
		buf.WriteByte(' ')
		buf.WriteString(strconv.Itoa(l.next))
		buf.WriteByte(' ')
		buf.Write(l.payload)
		buf.WriteByte('\n')
		g.ends = append(g.ends, off+int64(buf.Len()))
		g.seqs = append(g.seqs, l.next)
		l.next++
	}
	if _, err := g.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("soak: write %s: %w", g.path, err)
	}
	if len(g.prefix) < prefixMax {
		g.prefix = append(g.prefix, buf.Bytes()[:min(buf.Len(), prefixMax-len(g.prefix))]...)
	}
	g.size += int64(buf.Len())
	fmt.Fprintf(w.ledger, "%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\n", g.id, l.idx, g.inode, filepath.Base(g.path), off, first, n, buf.Len())
	w.total.Add(int64(n))
	return nil
}

// tick writes each live file's share of dt seconds; a file with a late
// descriptor splits its lines between the old and the new generation.
func (w *writer) tick(dt float64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.files {
		if l.frozen || l.retired {
			continue
		}
		l.acc += l.rate * dt
		n := int(l.acc)
		l.acc -= float64(n)
		if l.late != nil && n > 0 {
			k := min(l.lateLeft, n/2+1)
			if err := w.appendLines(l, l.late, k); err != nil {
				return err
			}
			n -= k
			l.lateLeft -= k
			if l.lateLeft == 0 {
				l.late.f.Close()
				l.late.f = nil
				l.late = nil
			}
		}
		if err := w.appendLines(l, l.cur, n); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) file(i int) *logical {
	if i < 0 || i >= len(w.files) {
		return nil
	}
	return w.files[i]
}

func (w *writer) rotatedName(l *logical) string {
	l.rotated++
	return filepath.Join(w.dir, fmt.Sprintf("%s.%d", l.name, l.rotated))
}

// renameRotate renames the live file and creates it again; the old
// descriptor gets the next late lines.
func (w *writer) renameRotate(i, late int) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.file(i)
	if l == nil || l.retired {
		return false, nil
	}
	if l.late != nil {
		l.late.f.Close()
		l.late.f = nil
	}
	old := l.cur
	to := w.rotatedName(l)
	if err := os.Rename(old.path, to); err != nil {
		return false, fmt.Errorf("soak: rotate: %w", err)
	}
	old.path = to
	g, err := w.create(l)
	if err != nil {
		return false, err
	}
	l.cur, l.late, l.lateLeft = g, old, late
	return true, nil
}

// copyTruncate copies the live file to a rotated name, writes window lines
// (which exist in no file once the truncation comes), keeps them in the file
// for hold (so the agent can see them) and truncates. It returns the window
// lines and what watch, called at the end of the window with the file's
// inode, returned.
func (w *writer) copyTruncate(i, window int, hold time.Duration, watch func(ino uint64) bool) (_ [][2]int, watched, ok bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.file(i)
	if l == nil || l.retired || l.frozen {
		return nil, false, false, nil
	}
	g := l.cur
	data, err := os.ReadFile(g.path)
	if err != nil {
		return nil, false, false, fmt.Errorf("soak: copytruncate read: %w", err)
	}
	if int64(len(data)) != g.size {
		return nil, false, false, fmt.Errorf("soak: copytruncate: %s holds %d bytes, ledger says %d", g.path, len(data), g.size)
	}
	to := w.rotatedName(l)
	cf, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, false, false, fmt.Errorf("soak: copytruncate: %w", err)
	}
	if _, err := cf.Write(data); err != nil {
		cf.Close()
		return nil, false, false, fmt.Errorf("soak: copytruncate: %w", err)
	}
	c := &gen{id: len(w.gens), file: i, path: to, f: cf, size: g.size, copied: true,
		ends: append([]int64(nil), g.ends...), seqs: append([]int(nil), g.seqs...), prefix: append([]byte(nil), g.prefix...)}
	if err := c.stat(); err != nil {
		return nil, false, false, err
	}
	cf.Close()
	c.f = nil
	w.gens = append(w.gens, c)
	fmt.Fprintf(w.ledger, "%d\t%d\t%d\t%s\t0\tcopy-of-gen-%d\t%d\t%d\n", c.id, i, c.inode, filepath.Base(to), g.id, len(c.seqs), c.size)
	from := l.next
	before := g.size
	if err := w.appendLines(l, g, window); err != nil {
		return nil, false, false, err
	}
	var lines [][2]int
	for s := from; s < l.next; s++ {
		w.excused[[2]int{i, s}] = true
		lines = append(lines, [2]int{i, s})
	}
	w.exBytes += g.size - before
	l.frozen = true // the window: nothing else is written to the file
	w.mu.Unlock()
	time.Sleep(hold)
	watched = watch(g.inode)
	w.mu.Lock()
	l.frozen = false
	if err := g.f.Truncate(0); err != nil {
		return nil, false, false, fmt.Errorf("soak: copytruncate truncate: %w", err)
	}
	w.restart(l, g)
	return lines, watched, true, nil
}

// restart begins a new generation on g's inode (after a truncation).
func (w *writer) restart(l *logical, g *gen) {
	n := &gen{id: len(w.gens), file: l.idx, path: g.path, dev: g.dev, inode: g.inode, f: g.f}
	g.f, g.gone = nil, true
	w.gens = append(w.gens, n)
	l.cur = n
}

// freeze stops writes to file i (true if it exists and is live) so that a
// fault can wait for its lines to reach Kafka.
func (w *writer) freeze(i int, on bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.file(i)
	if l == nil {
		return false
	}
	l.frozen = on
	return !l.retired
}

// pending returns the lines of generation g (by index) as (file, seq).
func (w *writer) genLines(g *gen) [][2]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([][2]int, 0, len(g.seqs))
	for _, s := range g.seqs {
		out = append(out, [2]int{g.file, s})
	}
	return out
}

func (w *writer) current(i int) *gen {
	w.mu.Lock()
	defer w.mu.Unlock()
	if l := w.file(i); l != nil {
		return l.cur
	}
	return nil
}

// deleteRecreate unlinks the live file (its lines are in Kafka) and creates
// it again: a new generation that may reuse the inode.
func (w *writer) deleteRecreate(i int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.files[i]
	g := l.cur
	g.f.Close()
	g.f, g.gone = nil, true
	if err := os.Remove(g.path); err != nil {
		return fmt.Errorf("soak: delete: %w", err)
	}
	n, err := w.create(l)
	if err != nil {
		return err
	}
	l.cur = n
	return nil
}

// truncateRewrite truncates the live file in place (its lines are in Kafka)
// and writes a few new lines.
func (w *writer) truncateRewrite(i int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.files[i]
	g := l.cur
	if err := g.f.Truncate(0); err != nil {
		return fmt.Errorf("soak: truncate: %w", err)
	}
	w.restart(l, g)
	return w.appendLines(l, l.cur, 3)
}

// vanishCandidate returns the oldest existing generation of file i that is
// not written any more (rotated, copied or retired), or nil.
func (w *writer) vanishCandidate(i int) *gen {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.file(i)
	if l == nil {
		return nil
	}
	for _, g := range w.gens {
		if g.file != i || g.gone || g == l.late || (g == l.cur && !l.retired) {
			continue
		}
		return g
	}
	return nil
}

func (w *writer) vanish(g *gen) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if g.f != nil {
		g.f.Close()
		g.f = nil
	}
	g.gone = true
	if err := os.Remove(g.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("soak: vanish: %w", err)
	}
	return nil
}

func (w *writer) burst(i, n int) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.file(i)
	if l == nil || l.retired || l.frozen {
		return false, nil
	}
	return true, w.appendLines(l, l.cur, n)
}

func (w *writer) setRate(i, r int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.file(i)
	if l == nil {
		return false
	}
	l.rate = float64(r)
	return true
}

func (w *writer) retire(i int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.file(i)
	if l == nil || l.retired {
		return false
	}
	l.retired = true
	return true
}

// written returns the number of sequence numbers allocated per file.
func (w *writer) written() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int, len(w.files))
	for i, l := range w.files {
		out[i] = l.next
	}
	return out
}

// findGen returns the generation a checkpoint entry describes: same inode,
// and the fingerprint of its first fpLen bytes; nil when none matches.
func (w *writer) findGen(dev, inode uint64, fp string, fpLen int) *gen {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := len(w.gens) - 1; k >= 0; k-- {
		g := w.gens[k]
		if g.inode != inode || (dev != 0 && g.dev != dev) {
			continue
		}
		if fpLen == 0 || strings.EqualFold(g.fingerprint(fpLen), fp) {
			return g
		}
	}
	return nil
}

// linesUpTo returns the lines of g whose end is at or before off.
func (w *writer) linesUpTo(g *gen, off int64) [][2]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out [][2]int
	for k, e := range g.ends {
		if e > off {
			break
		}
		out = append(out, [2]int{g.file, g.seqs[k]})
	}
	return out
}

func (w *writer) isExcused(k [2]int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.excused[k]
}

// lineBytes is the length of line k including its newline.
func (w *writer) lineBytes(k [2]int) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int64(len(strconv.Itoa(k[0])) + 1 + len(strconv.Itoa(k[1])) + 1 + w.payloads[k[0]] + 1)
}

// existing returns the lines held by some file on disk now (generations
// neither unlinked nor truncated): the only lines an agent can send again.
func (w *writer) existing() coverage {
	w.mu.Lock()
	defer w.mu.Unlock()
	cov := coverage{}
	for _, g := range w.gens {
		if g.gone {
			continue
		}
		for _, seq := range g.seqs {
			cov.set([2]int{g.file, seq})
		}
	}
	return cov
}
