// Package pki creates throw-away X.509 certificate authorities and the
// certificates issued by them, for tests that run TLS and mutual-TLS Kafka
// listeners. Everything is generated in memory with crypto/x509 (ECDSA
// P-256 keys) and written as PEM: certificates as "CERTIFICATE" blocks and
// private keys as unencrypted PKCS#8 "PRIVATE KEY" blocks, the form Kafka's
// PEM key stores (ssl.keystore.type=PEM) and Go's crypto/tls both read.
//
// Nothing here is meant for production use: keys are unprotected and
// certificates live for a day.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// validity is how long generated certificates are valid (from one hour in
// the past, to tolerate clock skew between the JVM and the test).
const validity = 24 * time.Hour

// CA is a self-signed certificate authority. Its methods are safe for
// concurrent use (they only read it).
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// Cert is a certificate issued by a CA, with its private key, both PEM
// encoded.
type Cert struct {
	CertPEM []byte // the leaf certificate
	KeyPEM  []byte // its private key, unencrypted PKCS#8
}

// NewCA creates a CA whose subject common name is name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: ca %s: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"logship tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: ca %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: ca %s: %w", name, err)
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// CertPEM returns the CA's certificate, PEM encoded: the trust anchor
// clients and brokers load.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.pem...) }

// Pool returns a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Server issues a server certificate for the given host names and IP
// addresses (its subject alternative names; at least one is required).
func (ca *CA) Server(hosts ...string) (*Cert, error) {
	if len(hosts) == 0 {
		return nil, errors.New("pki: server certificate needs at least one host name or IP address")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(tmpl)
}

// Client issues a client certificate (for mutual TLS) whose subject common
// name is name; Kafka maps it to the principal "User:CN=name".
func (ca *CA) Client(name string) (*Cert, error) {
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *CA) issue(tmpl *x509.Certificate) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: issue %s: %w", tmpl.Subject.CommonName, err)
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(validity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue %s: %w", tmpl.Subject.CommonName, err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue %s: %w", tmpl.Subject.CommonName, err)
	}
	return &Cert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	}, nil
}

// Files names the PEM files written by WriteFiles.
type Files struct {
	CertFile string
	KeyFile  string
}

// WriteFiles writes c to dir as <name>.crt (0644) and <name>.key (0600).
func (c *Cert) WriteFiles(dir, name string) (Files, error) {
	f := Files{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	if err := os.WriteFile(f.CertFile, c.CertPEM, 0o644); err != nil {
		return Files{}, fmt.Errorf("pki: %w", err)
	}
	if err := os.WriteFile(f.KeyFile, c.KeyPEM, 0o600); err != nil {
		return Files{}, fmt.Errorf("pki: %w", err)
	}
	return f, nil
}

// WriteFile writes the CA certificate to dir/<name>.crt and returns the path.
func (ca *CA) WriteFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name+".crt")
	if err := os.WriteFile(p, ca.pem, 0o644); err != nil {
		return "", fmt.Errorf("pki: %w", err)
	}
	return p, nil
}

// serial returns a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(fmt.Sprintf("pki: crypto/rand failed: %v", err)) // crypto/rand does not fail on Linux
	}
	return n
}
