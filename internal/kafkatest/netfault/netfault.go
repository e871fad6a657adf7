// Package netfault is a TCP proxy for fault-injection tests: it forwards
// connections from its own listening port to a target address and can, on
// command, delay every byte (latency), stop forwarding while holding the
// connections open (black hole), reset connections with TCP RST, or close
// them. Kafka brokers advertise the proxy's port (see kafkatest.Listener),
// so every client connection, bootstrap and leader alike, passes through it.
//
// The proxy reads from each side continuously into a bounded queue and
// writes each chunk to the other side once its delay has passed, so latency
// does not cap throughput (like netem, unlike read-sleep-write).
package netfault

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// mode is what the proxy does with traffic.
type mode int

const (
	pass      mode = iota // forward (after the configured latency)
	blackhole             // accept and hold connections, forward nothing
	reset                 // answer every connection with RST
)

// queueChunks bounds how many read chunks wait per direction; a full queue
// stops the reader, which makes TCP push back on the sender.
const queueChunks = 64

const chunkSize = 32 << 10

// Proxy forwards TCP connections to a target. Its methods are safe for
// concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	dialer net.Dialer

	mu      sync.Mutex
	mode    mode
	latency time.Duration
	changed chan struct{} // closed and replaced whenever mode or latency changes
	links   map[*link]struct{}
	closed  bool
	wg      sync.WaitGroup // the accept loop and every link goroutine
}

// New listens on listenAddr ("127.0.0.1:0" picks a free port) and forwards
// every accepted connection to target. It starts one accept goroutine that
// exits on Close.
func New(listenAddr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("netfault: listen %s: %w", listenAddr, err)
	}
	p := &Proxy{
		ln:      ln,
		target:  target,
		dialer:  net.Dialer{Timeout: 5 * time.Second},
		changed: make(chan struct{}),
		links:   make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.accept() // exits when Close closes the listener
	return p, nil
}

// Addr returns the proxy's listening address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target returns the address connections are forwarded to.
func (p *Proxy) Target() string { return p.target }

// SetLatency delays every chunk of data, in both directions, by d from the
// moment the proxy read it (so a request/response round trip gains 2d).
// 0 removes the delay. Data already queued keeps the delay it was read with.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.notifyLocked()
	p.mu.Unlock()
}

// Blackhole stops forwarding: existing connections stay open but nothing
// more is delivered in either direction, and new connections are accepted
// and held without reaching the target. Heal resumes delivery of everything
// held, as TCP retransmission would after a routing black hole ends.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	p.mode = blackhole
	p.notifyLocked()
	p.mu.Unlock()
}

// Reset resets (TCP RST) every existing connection on both sides, and every
// new connection until Heal.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.mode = reset
	links := p.snapshotLocked()
	p.notifyLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.abort(true)
	}
}

// Cut closes every existing connection on both sides (FIN, not RST). New
// connections are forwarded as usual.
func (p *Proxy) Cut() {
	p.mu.Lock()
	links := p.snapshotLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.abort(false)
	}
}

// Heal ends Blackhole and Reset and removes the latency.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.mode = pass
	p.latency = 0
	p.notifyLocked()
	p.mu.Unlock()
}

// Conns returns the number of client connections currently open.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines to exit. Calls after the first return nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	links := p.snapshotLocked()
	p.notifyLocked()
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		l.abort(false)
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) snapshotLocked() []*link {
	out := make([]*link, 0, len(p.links))
	for l := range p.links {
		out = append(out, l)
	}
	return out
}

// state returns the current mode and latency, and a channel closed at the
// next change.
func (p *Proxy) state() (mode, time.Duration, <-chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.latency, p.changed, p.closed
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // the listener was closed
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		if p.mode == reset {
			p.mu.Unlock()
			rst(c)
			continue
		}
		l := &link{p: p, client: c.(*net.TCPConn), done: make(chan struct{})}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go l.run() // exits when either side closes or the link is aborted
	}
}

// rst closes c with a TCP RST instead of a FIN.
func rst(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// link is one proxied connection.
type link struct {
	p        *Proxy
	client   *net.TCPConn
	upstream *net.TCPConn // set once by run; read by abort under once

	mu      sync.Mutex
	aborted bool
	done    chan struct{} // closed by abort
}

// abort ends the link: both sides are closed, with RST when hard.
func (l *link) abort(hard bool) {
	l.mu.Lock()
	if l.aborted {
		l.mu.Unlock()
		return
	}
	l.aborted = true
	up := l.upstream
	close(l.done)
	l.mu.Unlock()
	closeConn(l.client, hard)
	if up != nil {
		closeConn(up, hard)
	}
}

func closeConn(c *net.TCPConn, hard bool) {
	if hard {
		rst(c)
		return
	}
	_ = c.Close()
}

// run holds the client until the proxy forwards, dials the target, and
// pumps both directions until one fails or the link is aborted.
func (l *link) run() {
	defer l.p.wg.Done()
	defer func() {
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	}()
	defer l.abort(false)

	// A connection accepted during a black hole waits (its data queued by
	// the client-side reader below once connected) until the hole heals.
	if !l.waitPass() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Exits when the dial is over (cancel below) or the link is aborted.
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	up, err := l.p.dialer.DialContext(ctx, "tcp", l.p.target)
	cancel()
	if err != nil {
		rst(l.client) // the target refused: tell the client at once
		return
	}
	l.mu.Lock()
	if l.aborted {
		l.mu.Unlock()
		rst(up)
		return
	}
	l.upstream = up.(*net.TCPConn)
	l.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	// Each pump exits when its source closes or fails, its destination
	// fails, or the link is aborted; the abort then ends the other one.
	// Kafka does not half-close, so the end of one direction ends the link.
	go func() { defer wg.Done(); l.pump(l.client, l.upstream); l.abort(false) }()
	go func() { defer wg.Done(); l.pump(l.upstream, l.client); l.abort(false) }()
	wg.Wait()
}

// waitPass blocks while the proxy is black-holing; it reports false when the
// link was aborted or the proxy is resetting.
func (l *link) waitPass() bool {
	for {
		m, _, changed, closed := l.p.state()
		switch {
		case closed:
			return false
		case m == pass:
			return true
		case m == reset:
			l.abort(true)
			return false
		}
		select {
		case <-changed:
		case <-l.done:
			return false
		}
	}
}

type chunk struct {
	data []byte
	due  time.Time
}

// pump copies src to dst through a bounded queue: a reader goroutine
// stamps each chunk with its due time; this goroutine writes it when due
// and while the proxy is not black-holing. It returns (after its reader has
// exited) when src ends, dst fails or the link is aborted.
func (l *link) pump(src, dst *net.TCPConn) {
	q := make(chan chunk, queueChunks)
	// Exits when src fails or closes (abort closes it); closing q ends the
	// writer loop below.
	go func() {
		defer close(q)
		for {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				_, lat, _, _ := l.p.state()
				select {
				case q <- chunk{data: buf[:n], due: time.Now().Add(lat)}:
				case <-l.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		if !l.waitDue(c.due) {
			for range q { // the reader exits once the link is aborted
			}
			return
		}
		if _, err := dst.Write(c.data); err != nil {
			l.abort(false)
			for range q {
			}
			return
		}
	}
}

// waitDue waits until due has passed and the proxy forwards; false when the
// link ends first.
func (l *link) waitDue(due time.Time) bool {
	for {
		m, _, changed, closed := l.p.state()
		if closed {
			return false
		}
		switch m {
		case reset:
			l.abort(true)
			return false
		case blackhole:
			select {
			case <-changed:
				continue
			case <-l.done:
				return false
			}
		}
		d := time.Until(due)
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-changed:
		case <-l.done:
			t.Stop()
			return false
		}
		t.Stop()
	}
}
