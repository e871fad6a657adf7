package producer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// brokerAuth sets up the producer's broker connections (TCP, then TLS) and
// wraps its SASL mechanism, so that a TLS or SASL failure can be reported
// with the broker it happened with: kafka-go's own errors do not say. It is
// used from kafka-go's connection goroutines and is safe for concurrent
// use.
type brokerAuth struct {
	tls    *tls.Config // nil: plaintext
	sasl   sasl.Mechanism
	dialer net.Dialer
	// lastSASL is the broker ("host:port") of the most recent SASL exchange.
	// kafka-go returns a SASL failure without the broker's address; the
	// failing exchange is the latest one on a single-broker or uniformly
	// misconfigured cluster (credentials are cluster-wide in Kafka).
	lastSASL atomic.Pointer[string]
}

// brokerError is a connection set-up failure with a known broker.
type brokerError struct {
	broker string
	err    error
}

func (e *brokerError) Error() string { return "broker " + e.broker + ": " + e.err.Error() }
func (e *brokerError) Unwrap() error { return e.err }

func newBrokerAuth(tlsCfg *tls.Config, mech sasl.Mechanism) *brokerAuth {
	return &brokerAuth{tls: tlsCfg, sasl: mech}
}

// dial is the kafka.Transport's Dial: a TCP connection to addr and, when TLS
// is configured, a completed TLS handshake (bounded by ctx, which carries
// the transport's dial timeout). The server name defaults to addr's host,
// as kafka-go's own TLS does. A failed handshake is returned as a
// *brokerError naming addr.
func (a *brokerAuth) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := a.dialer.DialContext(ctx, network, addr)
	if err != nil || a.tls == nil {
		return c, err
	}
	cfg := a.tls
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("producer: dial %s: %w", addr, err)
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, &brokerError{broker: addr, err: fmt.Errorf("tls handshake: %w", err)}
	}
	return tc, nil
}

// mechanism returns the SASL mechanism for the transport (nil when SASL is
// off), wrapped to record the broker of each exchange.
func (a *brokerAuth) mechanism() sasl.Mechanism {
	if a.sasl == nil {
		return nil
	}
	return recordingMechanism{Mechanism: a.sasl, last: &a.lastSASL}
}

// mechanismName is the SASL mechanism's name, or "none".
func (a *brokerAuth) mechanismName() string {
	if a.sasl == nil {
		return "none"
	}
	return a.sasl.Name()
}

// broker returns the broker an authentication error concerns, or "" when
// it is not known.
func (a *brokerAuth) broker(err error) string {
	var be *brokerError
	if errors.As(err, &be) {
		return be.broker
	}
	if isSASLError(err) {
		if p := a.lastSASL.Load(); p != nil {
			return *p
		}
	}
	return ""
}

// recordingMechanism is a sasl.Mechanism that records the broker of every
// exchange it starts.
type recordingMechanism struct {
	sasl.Mechanism
	last *atomic.Pointer[string]
}

func (m recordingMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	if md := sasl.MetadataFromContext(ctx); md != nil {
		addr := net.JoinHostPort(md.Host, strconv.Itoa(md.Port))
		m.last.Store(&addr)
	}
	return m.Mechanism.Start(ctx)
}

// logAuthFailure reports whether err is a TLS or SASL failure (see
// isAuthError) and, if so, logs it at error level at most once per interval,
// naming the broker (when known), the configured brokers, the TLS setting
// and the SASL mechanism; never the credentials. Callers keep retrying with
// their backoff: a fixed credential or certificate is picked up on the next
// connection.
func (p *Producer) logAuthFailure(err error) bool {
	if !isAuthError(err) {
		return false
	}
	now := time.Now()
	if last, ok := p.errLogged.Load("auth"); ok && now.Sub(last.(time.Time)) < logInterval {
		return true
	}
	p.errLogged.Store("auth", now)
	p.log.Error("kafka authentication failed, retrying", "broker", p.auth.broker(err), "brokers", p.opts.Brokers,
		"tls", p.opts.TLS != nil, "sasl_mechanism", p.auth.mechanismName(), "error", err)
	return true
}

// isSASLError reports whether err is a SASL authentication failure.
func isSASLError(err error) bool {
	return errors.Is(err, kafka.SASLAuthenticationFailed) || errors.Is(err, kafka.UnsupportedSASLMechanism) ||
		errors.Is(err, kafka.IllegalSASLState)
}

// isAuthError reports whether err comes from TLS verification or a TLS
// alert, or from SASL authentication or authorisation: errors that persist
// until an operator fixes a certificate, a credential or an ACL.
func isAuthError(err error) bool {
	if isSASLError(err) || errors.Is(err, kafka.TopicAuthorizationFailed) || errors.Is(err, kafka.ClusterAuthorizationFailed) {
		return true
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		alert     tls.AlertError
		header    tls.RecordHeaderError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &header)
}
