package kafkatest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

func (c *Cluster) launch(n *node) error {
	java, err := javaPath()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(filepath.Join(n.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("node %d: %w", n.index, err)
	}
	defer out.Close() // the child holds its own descriptor
	args := append(c.archiveFlags(),
		"-Xms128m", "-Xmx"+strconv.Itoa(c.heapMB)+"m",
		"-XX:+UseSerialGC", "-XX:-UsePerfData", "-XX:+ExitOnOutOfMemoryError",
		"-Xlog:gc:file="+filepath.Join(n.dir, "gc.log")+":uptime:filecount=2,filesize=4m",
		"-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile="+filepath.Join(n.dir, "log4j2.xml"),
		"-Dkafka.logs.dir="+n.dir,
		"-cp", filepath.Join(c.libs, "*"),
		"kafka.Kafka", n.propsPath())
	cmd := exec.Command(java, args...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr(c.detached)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("node %d: start %s: %w", n.index, java, err)
	}
	n.pid = cmd.Process.Pid
	if c.detached {
		n.done = nil
		// Reap the child if this process lives long enough; the goroutine exits
		// when the child does (or with this process).
		go func() { _ = cmd.Wait() }()
	} else {
		done := make(chan struct{})
		n.done = done
		// Exits when the broker process does; closing done lets waitExit return.
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
	}
	c.log.Info("node launched", "node", n.index, "pid", n.pid, "addr", n.addr())
	return nil
}

// archiveFlags returns the JVM flags that use (or train) the AppCDS archive.
func (c *Cluster) archiveFlags() []string {
	switch {
	case c.dumpArchive != "":
		return []string{"-XX:ArchiveClassesAtExit=" + c.dumpArchive}
	case c.archive != "":
		return []string{"-XX:SharedArchiveFile=" + c.archive, "-Xshare:auto"}
	}
	return nil
}

func javaPath() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		p := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("kafkatest: java not found (install a JDK 17+ or set JAVA_HOME): %w", err)
	}
	return p, nil
}

// waitReady waits until n answers a metadata request listing itself and at
// least want brokers. It fails early, with the log tail, if the process exits.
