package netfault

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	// Exits when the listener is closed at cleanup.
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			// Exits when either side closes the connection.
			go func() { defer wg.Done(); _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := New("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads the echo, within timeout.
func roundTrip(c net.Conn, msg []byte, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs")
	}
	return nil
}

func TestForwardsBothWays(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	c := dial(t, p)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, many chunks
	if err := roundTrip(c, big, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := p.Conns(); n != 1 {
		t.Fatalf("Conns = %d, want 1", n)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	c := dial(t, p)
	const d = 200 * time.Millisecond
	p.SetLatency(d)
	t0 := time.Now()
	if err := roundTrip(c, []byte("ping"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	rtt := time.Since(t0)
	t.Logf("round trip with %s latency each way: %s", d, rtt)
	if rtt < 2*d {
		t.Fatalf("round trip took %s, want at least %s", rtt, 2*d)
	}
	p.Heal()
	t0 = time.Now()
	if err := roundTrip(c, []byte("pong"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(t0); rtt >= d {
		t.Fatalf("round trip after Heal took %s, want under %s", rtt, d)
	}
}

func TestBlackholeHoldsThenHeals(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	old := dial(t, p)
	if err := roundTrip(old, []byte("before"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	fresh := dial(t, p) // accepted, held
	for _, c := range []net.Conn{old, fresh} {
		err := roundTrip(c, []byte("lost?"), 300*time.Millisecond)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("during black hole: got %v, want a timeout", err)
		}
	}
	p.Heal()
	// The held bytes ("lost?") are delivered first, as TCP would retransmit them.
	for _, c := range []net.Conn{old, fresh} {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len("lost?"))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "lost?" {
			t.Fatalf("after heal: got %q, %v", got, err)
		}
		if err := roundTrip(c, []byte("after"), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResetExistingAndNew(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	c := dial(t, p)
	if err := roundTrip(c, []byte("x"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("existing connection: got %v, want ECONNRESET", err)
	}
	if err := connectAndRead(p); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("new connection: got %v, want ECONNRESET", err)
	}
	p.Heal()
	if err := roundTrip(dial(t, p), []byte("y"), 5*time.Second); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

func TestCutClosesExisting(t *testing.T) {
	t.Parallel()
	p := newProxy(t)
	c := dial(t, p)
	if err := roundTrip(c, []byte("x"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want EOF", err)
	}
	if err := roundTrip(dial(t, p), []byte("y"), 5*time.Second); err != nil {
		t.Fatalf("new connection after cut: %v", err)
	}
}

func TestTargetDownResetsClient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close() // nothing listens there now
	p, err := New("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := connectAndRead(p); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("got %v, want ECONNRESET with the target down", err)
	}
}

// connectAndRead connects to p and reads one byte; it returns the first
// error. A RST sent right after the proxy accepts can reach the client
// before its connect call has returned, so the reset shows up in either.
func connectAndRead(p *Proxy) error {
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return err
}
