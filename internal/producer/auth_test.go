package producer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest/pki"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
)

func TestIsAuthError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"sasl failed", fmt.Errorf("kafka.(*Client).Metadata: %w", kafka.SASLAuthenticationFailed), true},
		{"sasl mechanism", kafka.UnsupportedSASLMechanism, true},
		{"topic acl", fmt.Errorf("produce: %w", kafka.TopicAuthorizationFailed), true},
		{"unknown CA", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, true},
		{"unknown CA unwrapped", fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), true},
		{"wrong host", x509.HostnameError{Host: "broker"}, true},
		{"bad certificate alert", fmt.Errorf("x: %w", tls.AlertError(42)), true},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, true},
		{"leader moved", kafka.NotLeaderForPartition, false},
		{"eof", io.ErrUnexpectedEOF, false},
		{"refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isAuthError(tc.err); got != tc.want {
				t.Fatalf("isAuthError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// tlsServer accepts TLS connections with cert on loopback, completing each
// handshake, until the test ends; it returns the address.
func tlsServer(t *testing.T, cert *pki.Cert) string {
	t.Helper()
	pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	// Exits when the listener is closed at cleanup.
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestBrokerAuthDialNamesBroker(t *testing.T) {
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	good := newBrokerAuth(&tls.Config{RootCAs: ca.Pool()}, nil) // server name defaults to the host
	c, err := good.dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("right CA: %v", err)
	}
	if _, ok := c.(*tls.Conn); !ok {
		t.Fatalf("dial returned %T, want a TLS connection", c)
	}
	c.Close()

	bad := newBrokerAuth(&tls.Config{RootCAs: other.Pool()}, nil)
	_, err = bad.dial(ctx, "tcp", addr)
	if err == nil {
		t.Fatal("wrong CA accepted")
	}
	wrapped := fmt.Errorf("kafka.(*Client).Metadata: %w", err)
	if !isAuthError(wrapped) {
		t.Fatalf("isAuthError(%v) = false", wrapped)
	}
	if got := bad.broker(wrapped); got != addr {
		t.Fatalf("broker = %q, want %q", got, addr)
	}

	plainDial := newBrokerAuth(nil, nil)
	c, err = plainDial.dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*tls.Conn); ok {
		t.Fatal("TLS off but dial returned a TLS connection")
	}
	c.Close()
}

func TestRecordingMechanismNamesBroker(t *testing.T) {
	a := newBrokerAuth(nil, plain.Mechanism{Username: "u", Password: "p"})
	if a.mechanismName() != "PLAIN" {
		t.Fatalf("mechanism %s", a.mechanismName())
	}
	ctx := sasl.WithMetadata(context.Background(), &sasl.Metadata{Host: "10.0.0.7", Port: 9093})
	if _, _, err := a.mechanism().Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.broker(kafka.SASLAuthenticationFailed); got != "10.0.0.7:9093" {
		t.Fatalf("broker = %q, want 10.0.0.7:9093", got)
	}
	if got := a.broker(kafka.TopicAuthorizationFailed); got != "" {
		t.Fatalf("broker of a non-SASL error = %q, want unknown", got)
	}
	if got := newBrokerAuth(nil, nil).mechanismName(); got != "none" {
		t.Fatalf("no SASL: mechanism %q", got)
	}
}
