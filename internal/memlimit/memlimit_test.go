package memlimit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeFS writes files (path -> content) under a temp root and returns it.
func fakeFS(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestReadCgroup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		limit   int64
		file    string // relative to the fake root
		version string
	}{
		{
			name: "v2 leaf limit",
			files: map[string]string{
				"proc":                                   "0::/kubepods/pod1/c1\n",
				"cg/kubepods/pod1/c1/memory.max":         "134217728\n",
				"cg/kubepods/pod1/memory.max":            "max\n",
				"cg/kubepods/memory.max":                 "max\n",
				"cg/kubepods/pod1/c1/cgroup.controllers": "cpu memory\n",
			},
			limit: 128 << 20, file: "cg/kubepods/pod1/c1/memory.max", version: "v2",
		},
		{
			name: "v2 ancestor is lower",
			files: map[string]string{
				"proc": "0::/system.slice/logship.service\n",
				"cg/system.slice/logship.service/memory.max": "max\n",
				"cg/system.slice/memory.max":                 "67108864\n",
			},
			limit: 64 << 20, file: "cg/system.slice/memory.max", version: "v2",
		},
		{
			name: "v2 namespaced: own directory not visible, mount root is the container",
			files: map[string]string{
				"proc":          "0::/../../host/path\n",
				"cg/memory.max": "100663296\n",
			},
			limit: 96 << 20, file: "cg/memory.max", version: "v2",
		},
		{
			name: "v2 unlimited",
			files: map[string]string{
				"proc":            "0::/a\n",
				"cg/a/memory.max": "max\n",
			},
			version: "v2",
		},
		{
			name: "v1 memory controller wins over the hybrid unified hierarchy",
			files: map[string]string{
				"proc": "4:memory:/process_api/x\n1:cpu,cpuacct:/\n0::/\n",
				"cg/memory/process_api/x/memory.limit_in_bytes": "134217728\n",
				"cg/memory/memory.limit_in_bytes":               "9223372036854771712\n",
			},
			limit: 128 << 20, file: "cg/memory/process_api/x/memory.limit_in_bytes", version: "v1",
		},
		{
			name: "v1 unlimited",
			files: map[string]string{
				"proc":                            "4:memory:/\n",
				"cg/memory/memory.limit_in_bytes": "9223372036854771712\n",
			},
			version: "v1",
		},
		{
			name:  "no memory controller",
			files: map[string]string{"proc": "1:cpu:/\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeFS(t, tc.files)
			cg, err := ReadCgroup(filepath.Join(root, "proc"), filepath.Join(root, "cg"))
			if err != nil {
				t.Fatal(err)
			}
			want := Cgroup{Limit: tc.limit, Version: tc.version}
			if tc.file != "" {
				want.File = filepath.Join(root, tc.file)
			}
			if cg != want {
				t.Fatalf("ReadCgroup = %+v, want %+v", cg, want)
			}
		})
	}
}

func TestReadCgroupErrors(t *testing.T) {
	root := fakeFS(t, map[string]string{"proc": "0::/a\n", "cg/a/memory.max": "lots\n"})
	if _, err := ReadCgroup(filepath.Join(root, "proc"), filepath.Join(root, "cg")); err == nil ||
		!strings.Contains(err.Error(), "not a byte count") {
		t.Fatalf("garbage memory.max: err = %v", err)
	}
	if _, err := ReadCgroup(filepath.Join(root, "missing"), filepath.Join(root, "cg")); err == nil {
		t.Fatal("missing /proc/self/cgroup: no error")
	}
}

func TestCheck(t *testing.T) {
	cg := Cgroup{Limit: 128 << 20, File: "/sys/fs/cgroup/memory.max", Version: "v2"}
	for _, tc := range []struct {
		budget int64
		cg     Cgroup
		ok     bool
	}{
		{32 << 20, cg, true},
		{88 << 20, cg, true}, // exactly budget + Headroom
		{89 << 20, cg, false},
		{16 << 20, Cgroup{Limit: 64 << 20}, true},
		{32 << 20, Cgroup{Limit: 64 << 20}, false},
		{1 << 30, Cgroup{}, true}, // no cgroup limit
	} {
		err := Check(tc.budget, tc.cg)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%d MiB, limit %d MiB) = %v, want ok=%v", tc.budget>>20, tc.cg.Limit>>20, err, tc.ok)
		}
	}
	err := Check(100<<20, cg)
	for _, want := range []string{"100MiB", "140MiB", "128MiB", "/sys/fs/cgroup/memory.max", "at most 88MiB"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check error %q lacks %q", err, want)
		}
	}
}

func TestSoftLimitBelowPeak(t *testing.T) {
	for _, b := range []int64{1 << 20, 16 << 20, 32 << 20, 1 << 30} {
		if s := SoftLimit(b); s <= b || s+9<<20 > b+Headroom {
			t.Errorf("SoftLimit(%d MiB) = %d MiB: must lie between the budget and the peak allowance less the ~9 MiB outside the heap", b>>20, s>>20)
		}
	}
}
