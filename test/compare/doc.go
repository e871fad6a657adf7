// Package compare re-checks the dependency decision in DESIGN.md: the same
// rename-rotation workload is read by github.com/nxadm/tail and by logship's
// own tailer, and the lines each one lost are printed. The test needs the
// build tag compare: run it with `make compare`
// (go test -race -tags compare ./test/compare/).
package compare
