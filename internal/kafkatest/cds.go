package kafkatest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// EnvClassArchive names the environment variable that, set to "0", disables
// the class-data-sharing archive (see Start).
const EnvClassArchive = "LOGSHIP_KAFKA_CDS"

// Prepare fetches the jars (EnsureJars) and trains the class-data-sharing
// archive if they are not cached yet, so that a later Start pays for
// neither. Start does the same lazily; Prepare exists for setup scripts.
// logger may be nil. Only a failure to get the jars is an error.
func Prepare(ctx context.Context, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	libs, err := EnsureJars(ctx)
	if err != nil {
		return err
	}
	classArchive(ctx, libs, defaultHeapMB, logger)
	return nil
}

// classArchive returns the path of a dynamic AppCDS archive holding the
// classes a broker loads while starting, creating it on first use by starting
// and cleanly stopping a throw-away single node (the JVM writes the archive
// when it exits). JVMs started with it load Kafka's classes from a memory
// map instead of parsing jars, which roughly halves their start-up CPU time.
// The name hashes the java binary and the jar set, so a JDK or pom change
// trains a new one; a stale or unusable archive is ignored by the JVM
// (-Xshare:auto). Any failure is logged and yields "" (start without it).
func classArchive(ctx context.Context, libs string, heapMB int, logger *slog.Logger) string {
	if os.Getenv(EnvClassArchive) == "0" {
		return ""
	}
	path, err := classArchivePath(libs)
	if err != nil {
		logger.Warn("class archive disabled", "err", err)
		return ""
	}
	if _, err := os.Stat(path); err == nil {
		return path
	} else if !errors.Is(err, fs.ErrNotExist) {
		logger.Warn("class archive disabled", "err", err)
		return ""
	}
	t0 := time.Now()
	if err := trainClassArchive(ctx, libs, heapMB, path, logger); err != nil {
		logger.Warn("class archive not created; starting without it", "err", err)
		return ""
	}
	logger.Info("class archive created", "path", path, "took", time.Since(t0))
	return path
}

func classArchivePath(libs string) (string, error) {
	java, err := javaPath()
	if err != nil {
		return "", err
	}
	if java, err = filepath.EvalSymlinks(java); err != nil {
		return "", fmt.Errorf("class archive: %w", err)
	}
	h := sha256.New()
	st, err := os.Stat(java)
	if err != nil {
		return "", fmt.Errorf("class archive: %w", err)
	}
	fmt.Fprintf(h, "%s %d %d\n", java, st.Size(), st.ModTime().UnixNano())
	entries, err := os.ReadDir(libs)
	if err != nil {
		return "", fmt.Errorf("class archive: %w", err)
	}
	for _, e := range entries {
		fmt.Fprintln(h, e.Name())
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	return filepath.Join(filepath.Dir(libs), "cds", "kafka-"+sum+".jsa"), nil
}

// trainClassArchive writes the archive to a temporary name next to path and
// renames it into place, so concurrent trainers never expose a partial file.
func trainClassArchive(ctx context.Context, libs string, heapMB int, path string, logger *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmpArchive := fmt.Sprintf("%s.partial-%d", path, os.Getpid())
	defer os.Remove(tmpArchive) // no-op after the rename
	dir, err := os.MkdirTemp("", "kafkatest-cds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	c := &Cluster{
		dir: dir, libs: libs, clusterID: newKafkaUUID(), heapMB: heapMB,
		ready: 90 * time.Second, dumpArchive: tmpArchive,
		log: logger.With("component", "kafkatest", "dir", dir),
	}
	c.nodes = []*node{{index: 0, brokerPort: ports[0], controllerPort: ports[1], dir: filepath.Join(dir, "node-0")}}
	defer c.Close()
	if err := c.start(ctx, nil); err != nil {
		return fmt.Errorf("training broker: %w", err)
	}
	if err := c.Stop(ctx, 0); err != nil {
		return fmt.Errorf("training broker: %w", err)
	}
	if _, err := os.Stat(tmpArchive); err != nil {
		return fmt.Errorf("the JVM wrote no archive: %w", err)
	}
	return os.Rename(tmpArchive, path)
}
