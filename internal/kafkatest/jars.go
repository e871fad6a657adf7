package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

// KafkaVersion is the Apache Kafka release the harness runs. It must match the
// kafka.version pinned in scripts/kafka.pom.xml.
const KafkaVersion = "4.1.1"

// EnvCache names the environment variable that overrides the cache directory
// (default: <repo root>/.cache).
const EnvCache = "LOGSHIP_CACHE"

// RepoRoot returns the directory holding go.mod, found by walking up from the
// working directory. It fails when no go.mod is found.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("kafkatest: repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kafkatest: repo root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// CacheDir returns $LOGSHIP_CACHE, or <repo root>/.cache when it is unset, as
// an absolute path. The directory is not created.
func CacheDir() (string, error) {
	if dir := os.Getenv(EnvCache); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", fmt.Errorf("kafkatest: cache dir %s: %w", dir, err)
		}
		return abs, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache"), nil
}

// EnsureJars returns the directory holding the Kafka runtime jars
// (<cache>/kafka-<KafkaVersion>/libs), fetching them with Maven from
// scripts/kafka.pom.xml when the directory does not exist yet. The fetch writes
// to a temporary sibling directory and renames it into place, so an
// interrupted fetch never looks like a complete cache, and concurrent callers
// (parallel test packages) are safe: the loser of the rename uses the winner's
// directory. It is safe to call from any goroutine. Errors carry Maven's
// output.
func EnsureJars(ctx context.Context) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	libs := filepath.Join(cache, "kafka-"+KafkaVersion, "libs")
	if st, err := os.Stat(libs); err == nil && st.IsDir() {
		return libs, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("kafkatest: jars: %w", err)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	pom := filepath.Join(root, "scripts", "kafka.pom.xml")
	parent := filepath.Dir(libs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("kafkatest: jars: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "libs.partial-")
	if err != nil {
		return "", fmt.Errorf("kafkatest: jars: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename

	cmd := exec.CommandContext(ctx, "mvn", "-q", "-B", "-f", pom,
		"dependency:copy-dependencies",
		"-DoutputDirectory="+tmp, "-DincludeScope=runtime")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kafkatest: jars: mvn copy-dependencies from %s: %w\n%s", pom, err, out.Bytes())
	}
	if _, err := os.Stat(filepath.Join(tmp, "kafka_2.13-"+KafkaVersion+".jar")); err != nil {
		return "", fmt.Errorf("kafkatest: jars: maven did not produce the kafka jar (pom and KafkaVersion out of sync?): %w", err)
	}
	if err := os.Rename(tmp, libs); err != nil {
		// A concurrent fetch may have won the race; its result is as good.
		if st, serr := os.Stat(libs); serr == nil && st.IsDir() {
			return libs, nil
		}
		return "", fmt.Errorf("kafkatest: jars: %w", err)
	}
	return libs, nil
}
