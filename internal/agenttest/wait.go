package agenttest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Until calls cond every interval until it reports true, returns an error
// (which Until returns as is: the condition can no longer hold, e.g. the
// agent exited) or timeout passes (an error naming what was awaited). cond
// is called at least once.
func Until(timeout, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}

// WaitFor polls cond every 50 ms until it holds, and fails the test if
// timeout passes first. The optional detail functions add context to the
// failure (a log, the last scrape). Call it from the test's goroutine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	err := Until(timeout, 50*time.Millisecond, what, func() (bool, error) { return cond(), nil })
	if err == nil {
		return
	}
	var more []string
	for _, f := range detail {
		more = append(more, f())
	}
	if len(more) == 0 {
		t.Fatal(err)
	}
	t.Fatalf("%v\n%s", err, strings.Join(more, "\n"))
}

// FreeAddr returns a loopback host:port nothing listens on right now (a
// later listener may take it first; the tests accept that small race).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("agenttest: free address: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// MustFreeAddr is FreeAddr that fails the test on error.
func MustFreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
