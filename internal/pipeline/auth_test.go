package pipeline

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/segmentio/kafka-go"
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
