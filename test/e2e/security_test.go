package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest"
	"github.com/logship/logship/internal/kafkatest/pki"
)

// secureEnv is a broker with TLS and SASL client listeners and the
// certificate files an agent needs to reach it.
type secureEnv struct {
	c           *kafkatest.Cluster
	caFile      string // the CA that signed the broker's certificate
	otherCAFile string // an unrelated CA
	client      pki.Files
	plainPw     string // SASL/PLAIN user alice
	bobPw       string // SCRAM-SHA-512 user bob
	carolPw     string // SCRAM-SHA-256 user carol
	daveOldPw   string // SCRAM-SHA-512 user dave, as the broker first knows him
}

// Listener names of the secure cluster.
const (
	lnSSL       = "SSL"
	lnSASLSSL   = "SASL_SSL"
	lnMTLS      = "MTLS"
	lnSASLPlain = "SASL_PLAINTEXT"
)

func randomSecret(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// startSecure generates the certificates (a CA, the broker's certificate
// for 127.0.0.1 and localhost, a client certificate, and an unrelated CA)
// and starts a one-node cluster with SSL, SASL_SSL, mutual-TLS and
// SASL_PLAINTEXT client listeners. It fails the test (never skips) when the
// broker cannot start.
func startSecure(t *testing.T) *secureEnv {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("logship-e2e-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("unrelated-ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Client("logship-agent")
	if err != nil {
		t.Fatal(err)
	}
	env := &secureEnv{
		plainPw:   randomSecret(t, "plain-"),
		bobPw:     randomSecret(t, "bob-"),
		carolPw:   randomSecret(t, "carol-"),
		daveOldPw: randomSecret(t, "dave-old-"),
	}
	if env.caFile, err = ca.WriteFile(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	if env.otherCAFile, err = other.WriteFile(dir, "other-ca"); err != nil {
		t.Fatal(err)
	}
	if env.client, err = cli.WriteFiles(dir, "client"); err != nil {
		t.Fatal(err)
	}
	env.c = kafkatest.StartForTest(t, kafkatest.Options{
		Listeners: []kafkatest.Listener{
			{Name: lnSSL, Protocol: kafkatest.SSL},
			{Name: lnSASLSSL, Protocol: kafkatest.SASLSSL},
			{Name: lnMTLS, Protocol: kafkatest.SSL, ClientAuth: true},
			{Name: lnSASLPlain, Protocol: kafkatest.SASLPlaintext},
		},
		TLS:        &kafkatest.TLSMaterial{CertPEM: srv.CertPEM, KeyPEM: srv.KeyPEM, CAPEM: ca.CertPEM()},
		PlainUsers: map[string]string{"alice": env.plainPw},
		ScramUsers: []kafkatest.ScramUser{
			{Mechanism: kafkatest.MechanismScramSHA512, Name: "bob", Password: env.bobPw},
			{Mechanism: kafkatest.MechanismScramSHA256, Name: "carol", Password: env.carolPw},
			{Mechanism: kafkatest.MechanismScramSHA512, Name: "dave", Password: env.daveOldPw},
		},
	})
	return env
}

// writeSecret writes s to a 0600 file and returns its path.
func writeSecret(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecurity runs the agent against real SSL, SASL_SSL (SCRAM-SHA-512,
// SCRAM-SHA-256, PLAIN), mutual-TLS and SASL_PLAINTEXT listeners with
// certificate verification on, and checks every line against the ledger.
// It also covers the refusals: a wrong CA (nothing shipped, agent up, TLS
// error logged, /readyz failing; then fixed by a restart with the right
// CA), PLAIN without TLS (config refused), and F28.
func TestSecurity(t *testing.T) {
	env := startSecure(t)

	// ships writes lines first, runs the agent through listener with the
	// given kafka YAML until everything is in Kafka, and checks 0 missing
	// and no more duplicates than records re-sent (0 without retries).
	ships := func(t *testing.T, listener, kafkaYAML string) {
		const files, perFile = 3, 2000
		topic := newTopicOn(t, env.c, 2)
		dir := t.TempDir()
		w := newWriter(t, dir, files, 80)
		for i := range files {
			w.Write(t, i, perFile)
		}
		a := newAgent(t, agentConfig{Brokers: env.c.ListenerAddr(0, listener), Topic: topic, Glob: filepath.Join(dir, "*.log")})
		a.setKafkaYAML(kafkaYAML)
		t0 := time.Now()
		a.start()
		waitShippedOn(t, env.c, topic, w.Total(), 2*time.Minute)
		took := time.Since(t0)
		retried, err := a.Metric("logship_records_retried_total")
		if err != nil {
			t.Fatal(err)
		}
		a.term(30 * time.Second)
		tl := readTallyOn(t, env.c, topic)
		missing, dups, first := tl.check(w.Written())
		t.Logf("%s via %s listener: %d lines shipped in %s, missing %d, duplicates %d, retried %.0f",
			t.Name(), listener, w.Total(), took.Round(time.Millisecond), missing, dups, retried)
		if missing != 0 || tl.malformed != 0 {
			t.Fatalf("C1: missing %d (first %s), malformed %d", missing, first, tl.malformed)
		}
		if float64(dups) > retried { // C2: 0 without retries
			t.Fatalf("C2: %d duplicates but %.0f records re-sent", dups, retried)
		}
	}

	t.Run("ssl-verified", func(t *testing.T) {
		ships(t, lnSSL, fmt.Sprintf("tls:\n  ca_file: %s\n  server_name: 127.0.0.1\n", env.caFile))
	})
	t.Run("ssl-server-name-localhost", func(t *testing.T) {
		// Connects to 127.0.0.1 but verifies the certificate's DNS name.
		ships(t, lnSSL, fmt.Sprintf("tls:\n  ca_file: %s\n  server_name: localhost\n", env.caFile))
	})
	t.Run("sasl-ssl-scram-sha-512", func(t *testing.T) {
		ships(t, lnSASLSSL, fmt.Sprintf("tls:\n  ca_file: %s\nsasl:\n  mechanism: scram-sha-512\n  username: bob\n  password_file: %s\n",
			env.caFile, writeSecret(t, env.bobPw)))
	})
	t.Run("sasl-ssl-scram-sha-256", func(t *testing.T) {
		t.Setenv("LOGSHIP_E2E_CAROL_PASSWORD", env.carolPw)
		ships(t, lnSASLSSL, fmt.Sprintf("tls:\n  ca_file: %s\nsasl:\n  mechanism: scram-sha-256\n  username: carol\n  password: ${LOGSHIP_E2E_CAROL_PASSWORD}\n",
			env.caFile))
	})
	t.Run("sasl-ssl-plain", func(t *testing.T) {
		ships(t, lnSASLSSL, fmt.Sprintf("tls:\n  ca_file: %s\nsasl:\n  mechanism: plain\n  username: alice\n  password_file: %s\n",
			env.caFile, writeSecret(t, env.plainPw)))
	})
	t.Run("mtls", func(t *testing.T) {
		ships(t, lnMTLS, fmt.Sprintf("tls:\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n  server_name: 127.0.0.1\n",
			env.caFile, env.client.CertFile, env.client.KeyFile))
	})
	t.Run("plain-without-tls", func(t *testing.T) {
		pwFile := writeSecret(t, env.plainPw)
		clear := fmt.Sprintf("sasl:\n  mechanism: plain\n  username: alice\n  password_file: %s\n", pwFile)
		// Refused before anything starts, and the refusal does not echo the password.
		a := newAgent(t, agentConfig{Brokers: env.c.ListenerAddr(0, lnSASLPlain), Topic: "unused", Glob: filepath.Join(t.TempDir(), "*.log")})
		a.setKafkaYAML(clear)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, a.Bin, "run", "-config", a.ConfigPath).CombinedOutput()
		if err == nil {
			t.Fatalf("agent accepted PLAIN without TLS:\n%s", out)
		}
		if !strings.Contains(string(out), "plain sends the password in clear text") {
			t.Fatalf("refusal does not explain itself:\n%s", out)
		}
		if strings.Contains(string(out), env.plainPw) {
			t.Fatal("refusal prints the password")
		}
		t.Logf("PLAIN without TLS refused: %v: %s", err, strings.TrimSpace(string(out)))
		// Explicitly allowed: ships over SASL_PLAINTEXT.
		ships(t, lnSASLPlain, clear+"  allow_plain_without_tls: true\n")
	})
	t.Run("ssl-wrong-ca-then-right", func(t *testing.T) { testWrongCA(t, env) })
	t.Run("F28-wrong-scram-password-then-fixed", func(t *testing.T) { testF28(t, env) })
}

// testWrongCA: with a CA that did not sign the broker's certificate the
// agent ships nothing, stays up, logs the TLS error and turns /readyz
// unready; restarted with the right CA it ships everything.
func testWrongCA(t *testing.T, env *secureEnv) {
	const files, perFile = 2, 1000
	topic := newTopicOn(t, env.c, 2)
	dir := t.TempDir()
	w := newWriter(t, dir, files, 80)
	for i := range files {
		w.Write(t, i, perFile)
	}
	a := newAgent(t, agentConfig{Brokers: env.c.ListenerAddr(0, lnSSL), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.setKafkaYAML(fmt.Sprintf("tls:\n  ca_file: %s\n  server_name: 127.0.0.1\n", env.otherCAFile))
	t0 := time.Now()
	a.start()
	waitFor(t, time.Minute, "the TLS failure to be logged", func() bool {
		return a.countLogLines("kafka authentication failed, retrying") > 0
	})
	logged := time.Since(t0)
	authLine := a.firstLogLine("kafka authentication failed, retrying")
	for _, want := range []string{"certificate signed by unknown authority", `"broker":"` + env.c.ListenerAddr(0, lnSSL) + `"`} {
		if !strings.Contains(authLine, want) {
			t.Fatalf("the logged failure does not name %q:\n%s", want, authLine)
		}
	}
	waitFor(t, 90*time.Second, "/readyz to report not ready", func() bool {
		return a.Readyz() == http.StatusServiceUnavailable
	})
	unready := time.Since(t0)
	if !a.Running() {
		t.Fatalf("agent exited with the wrong CA: %v", a.ExitErr())
	}
	if n := hwSumOn(env.c, topic); n != 0 {
		t.Fatalf("%d records reached Kafka through a connection that failed verification", n)
	}
	a.term(30 * time.Second)

	cfg, err := os.ReadFile(a.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.ConfigPath, []byte(strings.ReplaceAll(string(cfg), env.otherCAFile, env.caFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		w.Write(t, i, perFile) // more lines while the agent was down
	}
	a.start()
	waitShippedOn(t, env.c, topic, w.Total(), 2*time.Minute)
	if st := a.Readyz(); st != http.StatusOK {
		t.Fatalf("/readyz = %d after everything was shipped, want 200", st)
	}
	a.term(30 * time.Second)
	tl := readTallyOn(t, env.c, topic)
	missing, dups, first := tl.check(w.Written())
	t.Logf("wrong CA: TLS error logged after %s, /readyz unready after %s, 0 records shipped; right CA after restart: %d lines, missing %d, duplicates %d",
		logged.Round(time.Millisecond), unready.Round(time.Millisecond), w.Total(), missing, dups)
	if missing != 0 || dups != 0 {
		t.Fatalf("missing %d (first %s), duplicates %d", missing, first, dups)
	}
}

// testF28: the agent's SCRAM password does not match the broker's; lines
// keep coming; the agent retries and logs the failure at most once per
// interval. The broker's credential is then changed to the agent's password
// and the agent resumes without a restart: 0 missing, and the password is
// in none of the agent's log lines.
func testF28(t *testing.T, env *secureEnv) {
	const (
		failFor      = 20 * time.Second // how long the credential stays wrong
		logInterval  = 30 * time.Second // the agent's per-condition log interval
		resumeWithin = time.Minute      // C5 bound for the first record after the fix
		// maxAuthAttempts bounds the failed authentications the broker may
		// see while the password is wrong: one per 100 ms (the first
		// backoff step) would be 200; a tight loop makes thousands.
		maxAuthAttempts = int(failFor / (100 * time.Millisecond))
	)
	agentPw := randomSecret(t, "f28-agent-secret-")
	t.Setenv("LOGSHIP_E2E_F28_PASSWORD", agentPw)
	topic := newTopicOn(t, env.c, 2)
	dir := t.TempDir()
	w := newWriter(t, dir, 2, 80)
	a := newAgent(t, agentConfig{Brokers: env.c.ListenerAddr(0, lnSASLSSL), Topic: topic, Glob: filepath.Join(dir, "*.log")})
	a.setKafkaYAML(fmt.Sprintf("tls:\n  ca_file: %s\nsasl:\n  mechanism: scram-sha-512\n  username: dave\n  password: ${LOGSHIP_E2E_F28_PASSWORD}\n", env.caFile))
	ctx, stop := context.WithCancel(context.Background())
	done := w.Run(t, ctx, 500)
	defer func() { stop(); <-done }()
	authFailuresBefore := brokerAuthFailures(t, env)
	t0 := time.Now()
	a.start()
	waitFor(t, time.Minute, "the authentication failure to be logged", func() bool {
		return a.countLogLines("kafka authentication failed, retrying") > 0
	})
	if rest := failFor - time.Since(t0); rest > 0 {
		time.Sleep(rest) // the fault's duration: the credential stays wrong while lines keep coming
	}
	failed := time.Since(t0)
	if n := hwSumOn(env.c, topic); n != 0 {
		t.Fatalf("%d records shipped with a wrong password", n)
	}
	if !a.Running() {
		t.Fatalf("agent exited on an authentication failure: %v", a.ExitErr())
	}
	authLines := a.countLogLines("kafka authentication failed, retrying")
	// Retried with backoff, not in a tight loop: the broker logs every
	// failed authentication.
	attempts := brokerAuthFailures(t, env) - authFailuresBefore
	if attempts == 0 || attempts > maxAuthAttempts {
		t.Fatalf("the broker saw %d failed authentications in %s, want between 1 and %d", attempts, failed.Round(time.Second), maxAuthAttempts)
	}
	maxLines := 1 + int(failed/logInterval)
	authLine := a.firstLogLine("kafka authentication failed, retrying")
	for _, want := range []string{`"sasl_mechanism":"SCRAM-SHA-512"`, `"broker":"` + env.c.ListenerAddr(0, lnSASLSSL) + `"`, "SASL Authentication Failed"} {
		if !strings.Contains(authLine, want) {
			t.Fatalf("the authentication error does not name %q:\n%s", want, authLine)
		}
	}
	if authLines > maxLines {
		t.Fatalf("%d authentication error lines in %s, want at most %d (one per %s)", authLines, failed.Round(time.Second), maxLines, logInterval)
	}

	if err := env.c.SetScramPassword(context.Background(), kafkatest.MechanismScramSHA512, "dave", agentPw); err != nil {
		t.Fatal(err)
	}
	fixed := time.Now()
	waitFor(t, resumeWithin, "the first record after the credential was fixed", func() bool {
		return hwSumOn(env.c, topic) > 0
	})
	resumed := time.Since(fixed)
	if !a.Running() {
		t.Fatalf("agent exited: %v", a.ExitErr())
	}
	time.Sleep(2 * time.Second) // lines keep coming after the fix
	stop()
	<-done
	waitShippedOn(t, env.c, topic, w.Total(), 2*time.Minute)
	retried, _ := a.Metric("logship_records_retried_total")
	a.term(30 * time.Second)
	tl := readTallyOn(t, env.c, topic)
	missing, dups, first := tl.check(w.Written())
	log := a.logText()
	leaked := strings.Count(log, agentPw)
	t.Logf("F28: wrong SCRAM-SHA-512 password for %s: %d failed authentications on the broker, %d agent error line(s) (max %d), 0 shipped; fixed on the broker, first record %s later without restart; %d lines, missing %d, duplicates %d, retried %.0f; password found %d times in %d bytes of agent log",
		failed.Round(time.Second), attempts, authLines, maxLines, resumed.Round(time.Millisecond), w.Total(), missing, dups, retried, leaked, len(log))
	if leaked != 0 {
		t.Fatalf("the password appears %d times in the agent log", leaked)
	}
	if missing != 0 {
		t.Fatalf("C1: %d missing (first %s)", missing, first)
	}
	if float64(dups) > retried {
		t.Fatalf("C2: %d duplicates but only %.0f records re-sent", dups, retried)
	}
}

// brokerAuthFailures counts the failed SCRAM-SHA-512 authentications in the
// broker's log.
func brokerAuthFailures(t *testing.T, env *secureEnv) int {
	t.Helper()
	b, err := os.ReadFile(env.c.Node(0).LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "due to invalid credentials with SASL mechanism SCRAM-SHA-512")
}
