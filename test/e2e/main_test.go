// Package e2e runs the real logship binary against a real Apache Kafka
// broker (KRaft, started from the Maven Central jars by internal/kafkatest)
// and checks every line the writer produced against what Kafka holds.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/logship/logship/internal/kafkatest"
)

var (
	cluster *kafkatest.Cluster
	// agentBin is built with -race so the end-to-end runs double as race
	// tests; agentBinPlain (no race detector) is used where memory is measured.
	agentBin      string
	agentBinPlain string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	bin, err := os.MkdirTemp("", "logship-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(bin)
	agentBin = filepath.Join(bin, "logship-race")
	agentBinPlain = filepath.Join(bin, "logship")
	for _, b := range []struct {
		out  string
		args []string
	}{{agentBin, []string{"-race"}}, {agentBinPlain, nil}} {
		args := append([]string{"build"}, b.args...)
		args = append(args, "-o", b.out, "github.com/logship/logship/cmd/agent")
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: build agent:", err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := kafkatest.Start(ctx, kafkatest.Options{Nodes: 1})
	if err != nil {
		// No skip: without a broker nothing here is proven.
		fmt.Fprintln(os.Stderr, "e2e: start kafka:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: kafka up at %s in %s\n", c.Bootstrap(), time.Since(start).Round(time.Millisecond))
	cluster = c
	code := m.Run()
	c.Close()
	return code
}
