package agentid

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestLoadCreatesOnceAndReuses: the first Load creates a random 128-bit id
// (0600), every later Load returns it; another data_dir gets another id.
func TestLoadCreatesOnceAndReuses(t *testing.T) {
	dir := t.TempDir()
	id, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("id %q is not 32 lowercase hex digits", id)
	}
	st, err := os.Stat(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	again, err := Load(dir)
	if err != nil || again != id {
		t.Fatalf("second Load = %q, %v; want %q", again, err, id)
	}
	other, err := Load(t.TempDir())
	if err != nil || other == id {
		t.Fatalf("another data_dir got %q, %v; want a different id", other, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("data_dir holds %d entries, want only %s", len(ents), File)
	}
}

// TestLoadConcurrentFirstStarts: concurrent first Loads agree on one id.
func TestLoadConcurrentFirstStarts(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			id, err := Load(dir)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids %q differ", ids)
		}
	}
}

// TestLoadRefusesMalformed: a damaged id file is an error naming it, not
// replaced by a new id.
func TestLoadRefusesMalformed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, File)
	if err := os.WriteFile(path, []byte("not-an-id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load = %v, want an error naming %s", err, path)
	}
	if data, _ := os.ReadFile(path); string(data) != "not-an-id\n" {
		t.Fatalf("id file rewritten to %q", data)
	}
}
