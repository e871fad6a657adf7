package kafkatest

import (
	"context"
	"crypto/tls"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest/pki"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// produceVia asks addr for topic's metadata and then sends one record to
// topic/0 with acks=all, with the given TLS and SASL settings, and returns
// the first error. The metadata request comes first because kafka-go
// reports a produce it cannot route (no cluster layout after a failed
// handshake) as "topic not found"; Metadata returns the handshake's error.
func produceVia(t *testing.T, addr, topic string, tlsCfg *tls.Config, mech sasl.Mechanism) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := &kafka.Transport{DialTimeout: 5 * time.Second, TLS: tlsCfg, SASL: mech}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 15 * time.Second, Transport: tr}
	if _, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}}); err != nil {
		return err
	}
	res, err := client.Produce(ctx, &kafka.ProduceRequest{
		Topic: topic, Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{Value: kafka.NewBytes([]byte("probe"))}),
	})
	if err != nil {
		return err
	}
	return res.Error
}

func scramMech(t *testing.T, alg scram.Algorithm, user, pw string) sasl.Mechanism {
	t.Helper()
	m, err := scram.Mechanism(alg, user, pw)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSecureListeners starts one broker with SSL, SASL_SSL, mutual-TLS,
// SASL_PLAINTEXT and proxied listeners and checks each accepts the right
// credentials and refuses wrong ones, and that SetScramPassword takes
// effect.
func TestSecureListeners(t *testing.T) {
	ca, err := pki.NewCA("logship-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := pki.NewCA("unrelated-ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Client("agent")
	if err != nil {
		t.Fatal(err)
	}
	c := StartForTest(t, Options{
		Listeners: []Listener{
			{Name: "SSL", Protocol: SSL},
			{Name: "SASL_SSL", Protocol: SASLSSL},
			{Name: "MTLS", Protocol: SSL, ClientAuth: true},
			{Name: "SASL_PLAINTEXT", Protocol: SASLPlaintext},
			{Name: "PROXIED", Protocol: Plaintext, Proxied: true},
		},
		TLS:        &TLSMaterial{CertPEM: srv.CertPEM, KeyPEM: srv.KeyPEM, CAPEM: ca.CertPEM()},
		PlainUsers: map[string]string{"alice": "alice-pw"},
		ScramUsers: []ScramUser{
			{Mechanism: MechanismScramSHA512, Name: "bob", Password: "bob-pw"},
			{Mechanism: MechanismScramSHA256, Name: "carol", Password: "carol-pw"},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "secure"
	if err := c.CreateTopic(ctx, topic, 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cli.CertPEM, cli.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	verify := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	wrongCA := &tls.Config{RootCAs: otherCA.Pool(), ServerName: "127.0.0.1"}
	mutual := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{pair}}

	for _, tc := range []struct {
		name     string
		listener string
		tls      *tls.Config
		mech     sasl.Mechanism
		ok       bool
	}{
		{"ssl verified", "SSL", verify, nil, true},
		{"ssl wrong CA", "SSL", wrongCA, nil, false},
		{"ssl wrong server name", "SSL", &tls.Config{RootCAs: ca.Pool(), ServerName: "broker.example"}, nil, false},
		{"sasl_ssl scram-sha-512", "SASL_SSL", verify, scramMech(t, scram.SHA512, "bob", "bob-pw"), true},
		{"sasl_ssl scram-sha-256", "SASL_SSL", verify, scramMech(t, scram.SHA256, "carol", "carol-pw"), true},
		{"sasl_ssl plain", "SASL_SSL", verify, plain.Mechanism{Username: "alice", Password: "alice-pw"}, true},
		{"sasl_ssl wrong password", "SASL_SSL", verify, scramMech(t, scram.SHA512, "bob", "nope"), false},
		{"sasl_ssl no sasl", "SASL_SSL", verify, nil, false},
		{"mtls with client cert", "MTLS", mutual, nil, true},
		{"mtls without client cert", "MTLS", verify, nil, false},
		{"sasl_plaintext scram", "SASL_PLAINTEXT", nil, scramMech(t, scram.SHA512, "bob", "bob-pw"), true},
		{"proxied plaintext", "PROXIED", nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := produceVia(t, c.ListenerAddr(0, tc.listener), topic, tc.tls, tc.mech)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("accepted")
			}
			if err != nil {
				t.Logf("refused as expected: %v", err)
			}
		})
	}

	t.Run("proxy advertised", func(t *testing.T) {
		p := c.Proxy(0, "PROXIED")
		if p == nil || c.ListenerAddr(0, "PROXIED") != p.Addr() {
			t.Fatalf("PROXIED listener address %q is not the proxy's", c.ListenerAddr(0, "PROXIED"))
		}
		conn, err := kafka.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		brokers, err := conn.Brokers()
		if err != nil {
			t.Fatal(err)
		}
		if len(brokers) != 1 || !strings.HasSuffix(p.Addr(), ":"+strconv.Itoa(brokers[0].Port)) {
			t.Fatalf("metadata through the proxy lists %+v, want the proxy %s", brokers, p.Addr())
		}
	})

	t.Run("set scram password", func(t *testing.T) {
		if err := c.SetScramPassword(ctx, MechanismScramSHA512, "bob", "new-pw"); err != nil {
			t.Fatal(err)
		}
		addr := c.ListenerAddr(0, "SASL_SSL")
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := produceVia(t, addr, topic, verify, scramMech(t, scram.SHA512, "bob", "new-pw"))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("new password still refused after 30s: %v", err)
			}
			time.Sleep(200 * time.Millisecond) // polling interval for the condition above
		}
		err := produceVia(t, addr, topic, verify, scramMech(t, scram.SHA512, "bob", "bob-pw"))
		if !errors.Is(err, kafka.SASLAuthenticationFailed) {
			t.Fatalf("old password: got %v, want SASLAuthenticationFailed", err)
		}
	})
}
