package kafkatest

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logship/logship/internal/kafkatest/netfault"
	"github.com/segmentio/kafka-go"
)

// Protocol is a Kafka listener security protocol.
type Protocol string

// The listener security protocols Kafka knows.
const (
	Plaintext     Protocol = "PLAINTEXT"
	SSL           Protocol = "SSL"
	SASLPlaintext Protocol = "SASL_PLAINTEXT"
	SASLSSL       Protocol = "SASL_SSL"
)

func (p Protocol) tls() bool  { return p == SSL || p == SASLSSL }
func (p Protocol) sasl() bool { return p == SASLPlaintext || p == SASLSSL }

// SASL mechanism names as Kafka spells them.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// scramIterations is the iteration count of the SCRAM credentials this
// package creates (Kafka's minimum, and its default).
const scramIterations = 4096

// Listener is a client listener added to every node next to the PLAINTEXT
// listener that the package itself (CreateTopic, ReadAll, ...) and the
// brokers among themselves keep using.
type Listener struct {
	// Name is the listener name: upper-case letters, digits and "_", unique,
	// neither PLAINTEXT nor CONTROLLER.
	Name     string
	Protocol Protocol
	// ClientAuth makes an SSL or SASL_SSL listener demand a client
	// certificate issued by Options.TLS.CAPEM (mutual TLS).
	ClientAuth bool
	// Proxied puts a netfault.Proxy in front of the listener on every node;
	// the brokers advertise the proxy's port, so every client connection
	// made through this listener (bootstrap and leaders) passes the proxy.
	// Cluster.Proxy returns it.
	Proxied bool
}

// TLSMaterial is the PEM material of the brokers' SSL and SASL_SSL
// listeners (see package pki).
type TLSMaterial struct {
	CertPEM []byte // the brokers' certificate (valid for 127.0.0.1)
	KeyPEM  []byte // its unencrypted PKCS#8 private key
	CAPEM   []byte // the CA trusted for client certificates (ClientAuth)
}

// ScramUser is a SCRAM credential created when the storage is formatted.
type ScramUser struct {
	Mechanism string // MechanismScramSHA256 or MechanismScramSHA512
	Name      string
	Password  string
}

// nodeListener is one extra listener of one node.
type nodeListener struct {
	spec  Listener
	port  int             // where the broker binds
	proxy *netfault.Proxy // nil unless spec.Proxied
}

// advertised is the address clients are given for the listener.
func (l *nodeListener) advertised() string {
	if l.proxy != nil {
		return l.proxy.Addr()
	}
	return "127.0.0.1:" + strconv.Itoa(l.port)
}

// validateSecurity checks the listener and credential options.
func validateSecurity(opts Options) error {
	seen := map[string]bool{"PLAINTEXT": true, "CONTROLLER": true}
	needTLS := false
	for _, l := range opts.Listeners {
		if l.Name == "" || strings.Trim(l.Name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
			return fmt.Errorf("listener name %q: use upper-case letters, digits and _", l.Name)
		}
		if seen[l.Name] {
			return fmt.Errorf("listener name %q used twice or reserved", l.Name)
		}
		seen[l.Name] = true
		switch l.Protocol {
		case Plaintext, SSL, SASLPlaintext, SASLSSL:
		default:
			return fmt.Errorf("listener %s: unknown protocol %q", l.Name, l.Protocol)
		}
		if l.ClientAuth && !l.Protocol.tls() {
			return fmt.Errorf("listener %s: ClientAuth needs SSL or SASL_SSL", l.Name)
		}
		needTLS = needTLS || l.Protocol.tls()
	}
	if needTLS && (opts.TLS == nil || len(opts.TLS.CertPEM) == 0 || len(opts.TLS.KeyPEM) == 0 || len(opts.TLS.CAPEM) == 0) {
		return errors.New("SSL listeners need Options.TLS with CertPEM, KeyPEM and CAPEM")
	}
	for _, u := range opts.ScramUsers {
		if u.Mechanism != MechanismScramSHA256 && u.Mechanism != MechanismScramSHA512 {
			return fmt.Errorf("scram user %s: unknown mechanism %q", u.Name, u.Mechanism)
		}
		// kafka-storage parses "name=...,password=..." inside [...].
		if u.Name == "" || strings.ContainsAny(u.Name+u.Password, ",[]=\"") {
			return fmt.Errorf("scram user %q: name and password must be non-empty and free of , [ ] = \"", u.Name)
		}
	}
	for name, pw := range opts.PlainUsers {
		if strings.ContainsAny(name+pw, "\" ;=\\") || name == "" {
			return fmt.Errorf("plain user %q: name and password must be non-empty and free of quotes, spaces, ; = and \\", name)
		}
	}
	return nil
}

// securityProperties returns the server.properties entries of n's extra
// listeners, merged into the base listener entries.
func (c *Cluster) securityProperties(n *node, p map[string]string) {
	if len(n.listeners) == 0 {
		return
	}
	listeners := []string{p["listeners"]}
	advertised := []string{p["advertised.listeners"]}
	protoMap := []string{p["listener.security.protocol.map"]}
	anyTLS := false
	for _, l := range n.listeners {
		name, lower := l.spec.Name, strings.ToLower(l.spec.Name)
		listeners = append(listeners, name+"://127.0.0.1:"+strconv.Itoa(l.port))
		advertised = append(advertised, name+"://"+l.advertised())
		protoMap = append(protoMap, name+":"+string(l.spec.Protocol))
		if l.spec.Protocol.tls() {
			anyTLS = true
			if l.spec.ClientAuth {
				p["listener.name."+lower+".ssl.client.auth"] = "required"
			}
		}
		if l.spec.Protocol.sasl() {
			var mechs []string
			if len(c.plainUsers) > 0 {
				mechs = append(mechs, MechanismPlain)
				var jaas strings.Builder
				jaas.WriteString("org.apache.kafka.common.security.plain.PlainLoginModule required")
				for _, u := range slices.Sorted(maps.Keys(c.plainUsers)) {
					fmt.Fprintf(&jaas, " user_%s=\"%s\"", u, c.plainUsers[u])
				}
				jaas.WriteString(";")
				p["listener.name."+lower+".plain.sasl.jaas.config"] = jaas.String()
			}
			for _, m := range []string{MechanismScramSHA256, MechanismScramSHA512} {
				mechs = append(mechs, m)
				p["listener.name."+lower+"."+strings.ToLower(m)+".sasl.jaas.config"] =
					"org.apache.kafka.common.security.scram.ScramLoginModule required;"
			}
			p["listener.name."+lower+".sasl.enabled.mechanisms"] = strings.Join(mechs, ",")
		}
	}
	p["listeners"] = strings.Join(listeners, ",")
	p["advertised.listeners"] = strings.Join(advertised, ",")
	p["listener.security.protocol.map"] = strings.Join(protoMap, ",")
	if anyTLS {
		// PEM given inline: a file-based PEM key store demands an encrypted
		// key (ssl.key.password), the inline form does not. Java's
		// Properties turns the "\n" escapes back into newlines.
		p["ssl.keystore.type"] = "PEM"
		p["ssl.keystore.certificate.chain"] = propertyPEM(c.tls.CertPEM)
		p["ssl.keystore.key"] = propertyPEM(c.tls.KeyPEM)
		p["ssl.truststore.type"] = "PEM"
		p["ssl.truststore.certificates"] = propertyPEM(c.tls.CAPEM)
	}
}

func propertyPEM(b []byte) string {
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", `\n`)
}

// scramFormatArgs returns the kafka-storage format arguments that create
// the SCRAM users.
func (c *Cluster) scramFormatArgs() []string {
	var args []string
	for _, u := range c.scramUsers {
		args = append(args, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", u.Mechanism, u.Name, u.Password))
	}
	return args
}

// ListenerAddr returns the address node i advertises for the extra
// listener name (the proxy's when it is Proxied), or "" if there is no such
// listener.
func (c *Cluster) ListenerAddr(i int, name string) string {
	for _, l := range c.nodes[i].listeners {
		if l.spec.Name == name {
			return l.advertised()
		}
	}
	return ""
}

// ListenerBootstrap returns the advertised addresses of the extra listener
// name on every node, comma separated, or "" if there is no such listener.
func (c *Cluster) ListenerBootstrap(name string) string {
	var addrs []string
	for i := range c.nodes {
		if a := c.ListenerAddr(i, name); a != "" {
			addrs = append(addrs, a)
		}
	}
	return strings.Join(addrs, ",")
}

// Proxy returns the proxy in front of node i's listener name, or nil when
// that listener is not Proxied.
func (c *Cluster) Proxy(i int, name string) *netfault.Proxy {
	for _, l := range c.nodes[i].listeners {
		if l.spec.Name == name {
			return l.proxy
		}
	}
	return nil
}

// closeProxies closes every listener proxy.
func (c *Cluster) closeProxies() error {
	var errs []error
	for _, n := range c.nodes {
		for _, l := range n.listeners {
			if l.proxy != nil {
				errs = append(errs, l.proxy.Close())
			}
		}
	}
	return errors.Join(errs...)
}

// SetScramPassword creates or replaces user's SCRAM credential for
// mechanism (MechanismScramSHA256 or MechanismScramSHA512) through the
// PLAINTEXT listener of a running node, as kafka-configs --alter
// --add-config would. Brokers apply it asynchronously, within moments.
// ctx bounds the request (default deadline 30s when it has none).
func (c *Cluster) SetScramPassword(ctx context.Context, mechanism, user, password string) error {
	ctx, cancel := withDefaultTimeout(ctx, 30*time.Second)
	defer cancel()
	var (
		mech    kafka.ScramMechanism
		newHash func() hash.Hash
		size    int
	)
	switch mechanism {
	case MechanismScramSHA256:
		mech, newHash, size = kafka.ScramMechanismSha256, sha256.New, sha256.Size
	case MechanismScramSHA512:
		mech, newHash, size = kafka.ScramMechanismSha512, sha512.New, sha512.Size
	default:
		return fmt.Errorf("kafkatest: set scram password: unknown mechanism %q", mechanism)
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	salted, err := pbkdf2.Key(newHash, password, salt, scramIterations, size)
	if err != nil {
		return fmt.Errorf("kafkatest: set scram password: %w", err)
	}
	running := c.runningNodes()
	if len(running) == 0 {
		return fmt.Errorf("kafkatest: set scram password: %w", errNoRunningNode)
	}
	tr := &kafka.Transport{DialTimeout: dialTimeout}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(running[0].addr()), Timeout: 10 * time.Second, Transport: tr}
	resp, err := client.AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{
		Upsertions: []kafka.UserScramCredentialsUpsertion{{
			Name: user, Mechanism: mech, Iterations: scramIterations, Salt: salt, SaltedPassword: salted,
		}},
	})
	if err != nil {
		return fmt.Errorf("kafkatest: set scram password of %s: %w", user, err)
	}
	for _, r := range resp.Results {
		if r.Error != nil {
			return fmt.Errorf("kafkatest: set scram password of %s: %w", r.User, r.Error)
		}
	}
	return nil
}
