package kafkatest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// serverProperties returns node n's server.properties entries; extra wins.
func (c *Cluster) serverProperties(n *node, extra map[string]string) map[string]string {
	nodes := len(c.nodes)
	rf, minISR := 1, 1
	if nodes >= 3 {
		rf, minISR = 3, 2
	}
	voters := make([]string, nodes)
	for i, m := range c.nodes {
		voters[i] = m.controllerAddr()
	}
	p := map[string]string{
		"process.roles":                       "broker,controller",
		"node.id":                             strconv.Itoa(n.index),
		"listeners":                           "PLAINTEXT://" + n.addr() + ",CONTROLLER://" + n.controllerAddr(),
		"advertised.listeners":                "PLAINTEXT://" + n.addr(),
		"controller.listener.names":           "CONTROLLER",
		"inter.broker.listener.name":          "PLAINTEXT",
		"listener.security.protocol.map":      "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"controller.quorum.bootstrap.servers": strings.Join(voters, ","),
		"log.dirs":                            filepath.Join(n.dir, "data"),

		"auto.create.topics.enable":                        "false",
		"num.partitions":                                   "1",
		"default.replication.factor":                       strconv.Itoa(rf),
		"min.insync.replicas":                              strconv.Itoa(minISR),
		"unclean.leader.election.enable":                   "false",
		"offsets.topic.replication.factor":                 strconv.Itoa(rf),
		"offsets.topic.num.partitions":                     "5",
		"transaction.state.log.replication.factor":         strconv.Itoa(rf),
		"transaction.state.log.min.isr":                    strconv.Itoa(minISR),
		"transaction.state.log.num.partitions":             "5",
		"share.coordinator.state.topic.replication.factor": strconv.Itoa(rf),
		"share.coordinator.state.topic.min.isr":            strconv.Itoa(minISR),
		"group.initial.rebalance.delay.ms":                 "0",

		// Small thread pools and buffers: three nodes and an agent share 2 cores.
		"num.network.threads":               "2",
		"num.io.threads":                    "2",
		"num.replica.fetchers":              "1",
		"background.threads":                "4",
		"num.recovery.threads.per.data.dir": "1",
		"log.cleaner.threads":               "1",
		"log.cleaner.dedupe.buffer.size":    strconv.Itoa(8 << 20), // default 128 MiB of heap
		"log.retention.check.interval.ms":   "60000",

		// broker.session.timeout.ms stays at its default (9s): a shorter one
		// fenced a healthy single node when a loaded 2-core machine starved
		// the controller thread for 12s. It is also how long failover and a
		// restart after kill -9 take; override it per cluster if needed.
	}
	c.securityProperties(n, p)
	maps.Copy(p, extra)
	return p
}

// writeNodeFiles creates n's directory with server.properties and log4j2.xml.
func (c *Cluster) writeNodeFiles(n *node, extra map[string]string) error {
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return fmt.Errorf("kafkatest: node %d: %w", n.index, err)
	}
	props := c.serverProperties(n, extra)
	var b bytes.Buffer
	b.WriteString("# written by internal/kafkatest\n")
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&b, "%s=%s\n", k, props[k])
	}
	if err := os.WriteFile(n.propsPath(), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("kafkatest: node %d: %w", n.index, err)
	}
	var logFile bytes.Buffer
	_ = xml.EscapeText(&logFile, []byte(n.logPath()))
	log4j := `<?xml version="1.0" encoding="UTF-8"?>
<!-- written by internal/kafkatest -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <File name="file" fileName="${sys:kafkatest.log:-` + logFile.String() + `}" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <!-- The effective config is server.properties; skip the 400-line dumps. -->
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients.NetworkClient" level="WARN"/>
    <Root level="INFO">
      <AppenderRef ref="file"/>
    </Root>
  </Loggers>
</Configuration>
`
	if err := os.WriteFile(filepath.Join(n.dir, "log4j2.xml"), []byte(log4j), 0o644); err != nil {
		return fmt.Errorf("kafkatest: node %d: %w", n.index, err)
	}
	return nil
}

// format runs kafka-storage format for n: --standalone for a single node, or
// the same --initial-controllers list (with fresh directory ids) on every
// node of a larger dynamic quorum.
func (c *Cluster) format(ctx context.Context, n *node) error {
	java, err := javaPath()
	if err != nil {
		return err
	}
	var args []string
	if c.archive != "" {
		args = append(args, "-XX:SharedArchiveFile="+c.archive, "-Xshare:auto")
	}
	args = append(args,
		"-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
		"-Dlog4j2.configurationFile="+filepath.Join(n.dir, "log4j2.xml"),
		"-Dkafkatest.log="+filepath.Join(n.dir, "format.log"),
		"-cp", filepath.Join(c.libs, "*"),
		"kafka.tools.StorageTool", "format",
		"--cluster-id", c.clusterID, "--config", n.propsPath(),
	)
	args = append(args, c.scramFormatArgs()...)
	if len(c.nodes) == 1 {
		args = append(args, "--standalone")
	} else {
		args = append(args, "--initial-controllers", c.voters)
	}
	cmd := exec.CommandContext(ctx, java, args...)
	cmd.Dir = n.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kafkatest: node %d: kafka-storage format: %w\n%s", n.index, err, out.Bytes())
	}
	return nil
}

// initialControllers returns "id@host:port:dirID,..." for every node with
// fresh directory ids; every node must be formatted with the same string.
func (c *Cluster) initialControllers() string {
	v := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		v[i] = fmt.Sprintf("%d@%s:%s", n.index, n.controllerAddr(), newKafkaUUID())
	}
	return strings.Join(v, ",")
}

// nodeLogTail returns the last lines of n's broker log and JVM output, for
// error messages.
func nodeLogTail(n *node) string {
	var b strings.Builder
	for _, f := range []struct {
		path  string
		lines int
	}{{n.logPath(), 40}, {filepath.Join(n.dir, "stdout.log"), 20}} {
		fmt.Fprintf(&b, "--- tail of %s ---\n%s", f.path, tailFile(f.path, f.lines))
	}
	return b.String()
}

// tailFile returns up to the last lines lines of path (reading at most its
// last 64 KiB), or a note saying why it could not.
func tailFile(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")\n"
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(st.Size()-window, io.SeekStart)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "(" + err.Error() + ")\n"
	}
	all := strings.SplitAfter(string(b), "\n")
	if len(all) > 0 && all[len(all)-1] == "" {
		all = all[:len(all)-1]
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	s := strings.Join(all, "")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// stateFileName is the file in the work directory that lets another process
// (the CLI) attach to a running cluster.
const stateFileName = "cluster.json"

type state struct {
	KafkaVersion string      `json:"kafka_version"`
	ClusterID    string      `json:"cluster_id"`
	Libs         string      `json:"libs"`
	HeapMB       int         `json:"heap_mb"`
	Nodes        []stateNode `json:"nodes"`
}

type stateNode struct {
	Index          int    `json:"index"`
	BrokerPort     int    `json:"broker_port"`
	ControllerPort int    `json:"controller_port"`
	PID            int    `json:"pid"`
	Dir            string `json:"dir"`
}

// saveState atomically writes the state file. Called with c.mu held.
func (c *Cluster) saveState() error {
	s := state{KafkaVersion: KafkaVersion, ClusterID: c.clusterID, Libs: c.libs, HeapMB: c.heapMB}
	for _, n := range c.nodes {
		s.Nodes = append(s.Nodes, stateNode{
			Index: n.index, BrokerPort: n.brokerPort, ControllerPort: n.controllerPort, PID: n.pid, Dir: n.dir,
		})
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("kafkatest: state: %w", err)
	}
	path := filepath.Join(c.dir, stateFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("kafkatest: state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("kafkatest: state: %w", err)
	}
	return nil
}
