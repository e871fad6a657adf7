package telemetry

import (
	"net"
	"sync"
	"sync/atomic"
)

// limitListener is a net.Listener with at most max connections open at
// once. A connection accepted beyond the cap is closed at once and Accept
// goes on waiting, so clients that hold connections open cannot make the
// endpoint take more than max descriptors; the slots free up as the server's
// timeouts close idle and slow connections.
type limitListener struct {
	net.Listener
	max    int64
	active atomic.Int64
}

// Accept returns the next connection within the cap.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) > l.max {
			l.active.Add(-1)
			c.Close()
			continue
		}
		return &limitConn{Conn: c, l: l}, nil
	}
}

// limitConn gives its slot back on the first Close.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.active.Add(-1) })
	return err
}
