package checkpoint

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// memFS is an in-memory fileSystem with a model of durability, for crash
// tests. It keeps two views: the volatile one (what the running process
// sees) and the durable one (what survives a power loss): file contents
// become durable on Sync, directory entries on SyncDir. Namespace operations
// since the last SyncDir are kept in order so a test can enumerate the states
// a crash may leave behind.
//
// Faults: failAt makes the failAt-th operation (counting every call) fail;
// with crash set, that call and every later one fail (the process died).
// failOps makes every call of an operation fail with the given error.
type memFS struct {
	mu      sync.Mutex
	files   map[string]*memNode // volatile namespace
	durable map[string]*memNode // namespace as of the last SyncDir
	pending []nsOp              // namespace operations since the last SyncDir
	tmpSeq  int

	step    int
	failAt  int
	crash   bool
	crashed bool
	failOps map[string]error
	ops     []string    // log of operation names, for test messages
	dirMode fs.FileMode // permissions Lstat reports; 0 means 0700
}

type memNode struct {
	data   []byte // volatile contents
	synced []byte // durable contents
}

type nsOp struct {
	kind string // "create", "rename", "remove"
	a, b string
	node *memNode
}

var (
	errInjected = errors.New("injected fault")
	errCrashed  = errors.New("process crashed")
)

func newMemFS() *memFS {
	return &memFS{files: map[string]*memNode{}, durable: map[string]*memNode{}, failOps: map[string]error{}}
}

// newMemFSFrom builds a filesystem whose volatile and durable states are both
// the given path → contents map.
func newMemFSFrom(state map[string][]byte) *memFS {
	m := newMemFS()
	for p, d := range state {
		n := &memNode{data: d, synced: d}
		m.files[p] = n
		m.durable[p] = n
	}
	return m
}

func (m *memFS) fault(op string) error {
	m.step++
	m.ops = append(m.ops, op)
	if m.crashed {
		return errCrashed
	}
	if m.failAt == m.step {
		if m.crash {
			m.crashed = true
			return fmt.Errorf("%s: %w", op, errCrashed)
		}
		return fmt.Errorf("%s: %w", op, errInjected)
	}
	if err := m.failOps[op]; err != nil {
		return err
	}
	return nil
}

func (m *memFS) setFailOp(op string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.failOps, op)
	} else {
		m.failOps[op] = err
	}
}

func pathErr(op, path string, err error) error { return &fs.PathError{Op: op, Path: path, Err: err} }

func (m *memFS) MkdirAll(path string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fault("mkdir")
}

func (m *memFS) Mkdir(path string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fault("mkdir")
}

func (m *memFS) Lstat(path string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("stat"); err != nil {
		return nil, err
	}
	return dirInfo{name: filepath.Base(path), perm: cmp.Or(m.dirMode, 0o700)}, nil
}

func (m *memFS) ReadFile(path string, limit int64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("read"); err != nil {
		return nil, err
	}
	n, ok := m.files[path]
	if !ok {
		return nil, pathErr("open", path, fs.ErrNotExist)
	}
	if int64(len(n.data)) > limit {
		return nil, errTooLarge
	}
	return append([]byte(nil), n.data...), nil
}

func (m *memFS) CreateTemp(dir, pattern string) (tempFile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("create"); err != nil {
		return nil, err
	}
	m.tmpSeq++
	name := filepath.Join(dir, strings.Replace(pattern, "*", fmt.Sprint(m.tmpSeq), 1))
	n := &memNode{}
	m.files[name] = n
	m.pending = append(m.pending, nsOp{kind: "create", a: name, node: n})
	return &memFile{fs: m, name: name, node: n}, nil
}

func (m *memFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("rename"); err != nil {
		return err
	}
	n, ok := m.files[oldpath]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: fs.ErrNotExist}
	}
	delete(m.files, oldpath)
	m.files[newpath] = n
	m.pending = append(m.pending, nsOp{kind: "rename", a: oldpath, b: newpath})
	return nil
}

func (m *memFS) Remove(path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("remove"); err != nil {
		return err
	}
	if _, ok := m.files[path]; !ok {
		return pathErr("remove", path, fs.ErrNotExist)
	}
	delete(m.files, path)
	m.pending = append(m.pending, nsOp{kind: "remove", a: path})
	return nil
}

func (m *memFS) ReadDirNames(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("readdir"); err != nil {
		return nil, err
	}
	var names []string
	for p := range m.files {
		if filepath.Dir(p) == filepath.Clean(dir) {
			names = append(names, filepath.Base(p))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (m *memFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("syncdir"); err != nil {
		return err
	}
	m.durable = maps.Clone(m.files)
	m.pending = nil
	return nil
}

// names lists the volatile namespace.
func (m *memFS) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedKeys(m.files)
}

func sortedKeys[V any](mp map[string]V) []string {
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// crashStates enumerates the states a power loss may leave: the durable
// namespace plus any subset of the pending namespace operations (applied in
// order), and for contents either only what was synced, a torn half of the
// unsynced data, or everything written.
func (m *memFS) crashStates() []map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []map[string][]byte
	seen := map[string]bool{}
	for mask := 0; mask < 1<<len(m.pending); mask++ {
		ns := maps.Clone(m.durable)
		for i, op := range m.pending {
			if mask&(1<<i) == 0 {
				continue
			}
			switch op.kind {
			case "create":
				ns[op.a] = op.node
			case "rename":
				if n, ok := ns[op.a]; ok {
					delete(ns, op.a)
					ns[op.b] = n
				}
			case "remove":
				delete(ns, op.a)
			}
		}
		for variant := range 3 {
			st := map[string][]byte{}
			for p, n := range ns {
				switch variant {
				case 0:
					st[p] = n.synced
				case 1:
					if len(n.data) > len(n.synced) {
						st[p] = n.data[:len(n.synced)+(len(n.data)-len(n.synced))/2]
					} else {
						st[p] = n.data
					}
				case 2:
					st[p] = n.data
				}
			}
			key := stateKey(st)
			if !seen[key] {
				seen[key] = true
				out = append(out, st)
			}
		}
	}
	return out
}

func stateKey(st map[string][]byte) string {
	var b strings.Builder
	for _, k := range sortedKeys(st) {
		fmt.Fprintf(&b, "%s=%q;", k, st[k])
	}
	return b.String()
}

type memFile struct {
	fs   *memFS
	name string
	node *memNode
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.fault("write"); err != nil {
		// A failing write may still have written part of the data.
		half := len(p) / 2
		f.node.data = append(f.node.data, p[:half]...)
		return half, err
	}
	f.node.data = append(f.node.data, p...)
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.fault("sync"); err != nil {
		return err
	}
	f.node.synced = append([]byte(nil), f.node.data...)
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.fs.fault("close")
}

type dirInfo struct {
	name string
	perm fs.FileMode
}

func (d dirInfo) Name() string       { return d.name }
func (d dirInfo) Size() int64        { return 0 }
func (d dirInfo) Mode() fs.FileMode  { return fs.ModeDir | d.perm }
func (d dirInfo) ModTime() time.Time { return time.Time{} }
func (d dirInfo) IsDir() bool        { return true }
func (d dirInfo) Sys() any           { return nil }
