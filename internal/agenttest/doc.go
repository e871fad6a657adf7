// Package agenttest is the harness that runs the real logship binary for
// the end-to-end tests (test/e2e), the packaging tests (test/packaging), the
// command's own process tests (cmd/agent) and the benchmark
// (bench/cmd/logship-bench): the agent as a child process with its own
// configuration, data dir and log file; its /healthz, /readyz and /metrics;
// its resource use read from /proc; waiting on a condition with a deadline;
// and the ground-truth line writer.
//
// It holds one copy of each of these mechanisms so that the suites cannot
// drift apart. Functions that can fail return errors (the benchmark is a
// program, not a test); the few that take a testing.TB say so.
package agenttest
