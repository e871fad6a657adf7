package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// handshake runs a TLS handshake between a server using srv (and, when
// clientCAs is set, demanding a client certificate it verifies) and a client
// with the given config. It returns the client's and the server's errors.
func handshake(t *testing.T, srv *Cert, clientCAs *x509.CertPool, client *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	pair, err := tls.X509KeyPair(srv.CertPEM, srv.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	scfg := &tls.Config{Certificates: []tls.Certificate{pair}}
	if clientCAs != nil {
		scfg.ClientAuth = tls.RequireAndVerifyClientCert
		scfg.ClientCAs = clientCAs
	}
	// Loopback TCP rather than net.Pipe: a failing side writes its alert
	// without waiting for the other side to read.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cConn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cConn.Close()
	sConn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sConn.Close()
	_ = sConn.SetDeadline(time.Now().Add(10 * time.Second))
	errc := make(chan error, 1)
	// Exits when the handshake ends (both sides have deadlines).
	go func() {
		s := tls.Server(sConn, scfg)
		err := s.Handshake()
		if err == nil {
			_, err = io.ReadFull(s, make([]byte, 1)) // the client's post-handshake byte
		}
		sConn.Close()
		errc <- err
	}()
	_ = cConn.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(cConn, client)
	clientErr = c.Handshake()
	if clientErr == nil {
		_, clientErr = c.Write([]byte{1}) // TLS 1.3 reports a rejected client cert only here
	}
	cConn.Close()
	return clientErr, <-errc
}

// twoCAs returns the CA the tests trust and an unrelated one.
func twoCAs(t *testing.T) (trusted, other *CA) {
	t.Helper()
	trusted, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err = NewCA("unrelated-ca")
	if err != nil {
		t.Fatal(err)
	}
	return trusted, other
}

func TestServerCertificateVerifies(t *testing.T) {
	t.Parallel()
	ca, other := twoCAs(t)
	srv, err := ca.Server("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		roots      *x509.CertPool
		serverName string
		wantErr    any // pointer to the error type expected, or nil
	}{
		{"right CA, IP SAN", ca.Pool(), "127.0.0.1", nil},
		{"right CA, DNS SAN", ca.Pool(), "localhost", nil},
		{"wrong CA", other.Pool(), "127.0.0.1", new(x509.UnknownAuthorityError)},
		{"wrong name", ca.Pool(), "broker.example", new(x509.HostnameError)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cerr, _ := handshake(t, srv, nil, &tls.Config{RootCAs: tc.roots, ServerName: tc.serverName})
			switch want := tc.wantErr.(type) {
			case nil:
				if cerr != nil {
					t.Fatalf("handshake failed: %v", cerr)
				}
			case *x509.UnknownAuthorityError:
				if !errors.As(cerr, want) {
					t.Fatalf("got %v, want an unknown-authority error", cerr)
				}
			case *x509.HostnameError:
				if !errors.As(cerr, want) {
					t.Fatalf("got %v, want a host-name error", cerr)
				}
			}
		})
	}
}

func TestClientCertificateRequired(t *testing.T) {
	t.Parallel()
	ca, other := twoCAs(t)
	srv, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	good, err := ca.Client("agent")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := other.Client("agent")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cert *Cert
		ok   bool
	}{{"issued by the trusted CA", good, true}, {"issued by another CA", bad, false}, {"none", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
			if tc.cert != nil {
				pair, err := tls.X509KeyPair(tc.cert.CertPEM, tc.cert.KeyPEM)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Certificates = []tls.Certificate{pair}
			}
			cerr, serr := handshake(t, srv, ca.Pool(), cfg)
			if tc.ok && (cerr != nil || serr != nil) {
				t.Fatalf("handshake failed: client %v, server %v", cerr, serr)
			}
			if !tc.ok && serr == nil {
				t.Fatal("server accepted the client")
			}
		})
	}
}

func TestWriteFilesLoadsAsKeyPair(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.Client("agent")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := c.WriteFiles(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile); err != nil {
		t.Fatalf("written files do not load: %v", err)
	}
	caFile, err := ca.WriteFile(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	if caFile == "" {
		t.Fatal("no CA file path")
	}
}
