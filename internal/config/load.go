package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// Bounds on the files Load reads.
const (
	maxConfigBytes     = 1 << 20  // the configuration file
	maxSecretFileBytes = 64 << 10 // a *_file secret
)

// Load reads the configuration file at path and returns it as Parse does,
// with path as the file name in messages. A file that cannot be read, is not
// a regular file (a FIFO, a device such as /dev/zero) or is larger than 1 MiB
// gives an error naming the path, at once; otherwise see Parse.
func Load(path string) (*Config, error) {
	data, err := readRegularFile(path, maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// readRegularFile reads the regular file at path, of at most limit bytes.
// It refuses anything else before opening it, then opens without blocking
// (a FIFO swapped in meanwhile would otherwise wait for a writer forever),
// checks the opened file again, and never reads more than limit+1 bytes:
// a FIFO, a device or a huge file is an error, never a hang or exhausted
// memory. Errors name the path, never the content.
func readRegularFile(path string, limit int64) ([]byte, error) {
	regular := func(st os.FileInfo) error {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (mode %v)", path, st.Mode())
		}
		if st.Size() > limit {
			return fmt.Errorf("%s is larger than %d bytes", path, limit)
		}
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(st); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if err := regular(st); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// Parse decodes, expands and validates one agent.yaml document. name is used
// only in messages. It reads the process environment for ${VAR} references,
// os.Hostname for the default agent.host, and the files named by *_file keys.
//
// On success the returned Config has every default applied and is valid. On
// failure it returns nil and every problem found, each a *FieldError
// ("FILE:LINE: key.path: problem"), joined with errors.Join and ordered by
// line. No message contains a secret. Parse is safe for concurrent use.
func Parse(name string, data []byte) (*Config, error) {
	return loader{lookupEnv: os.LookupEnv, readFile: readSecretFile, hostname: os.Hostname}.parse(name, data)
}

// loader holds Parse's dependencies on the process, so that tests and the
// fuzzer can replace them.
type loader struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	hostname  func() (string, error)
}

func (l loader) parse(name string, data []byte) (*Config, error) {
	rep := newReporter(name, nil)
	root := document(rep, data)
	if root == nil {
		return nil, rep.err()
	}
	rep.pos = newPositions(root)

	host, hostErr := l.hostname()
	cfg := defaultConfig(host)

	w := newWalker(rep, rep.pos, l.lookupEnv)
	w.walk(root, reflect.TypeFor[Config](), "")
	if w.aborted {
		return nil, rep.err()
	}

	// Decode everything but the pipelines into the pre-filled defaults, then
	// each pipeline into its own pre-filled default (yaml.v3 decodes list
	// items into zero values).
	top := *root
	top.Content = nil
	var pipelines *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "pipelines" {
			pipelines = resolveAlias(root.Content[i+1])
			continue
		}
		top.Content = append(top.Content, root.Content[i], root.Content[i+1])
	}
	rep.decodeError(top.Decode(&cfg))
	if pipelines != nil && pipelines.Kind == yaml.SequenceNode {
		for _, item := range pipelines.Content {
			p := defaultPipeline()
			rep.decodeError(item.Decode(&p))
			if p.Multiline.StartPattern == "" {
				p.Multiline = Multiline{}
			}
			cfg.Pipelines = append(cfg.Pipelines, p)
		}
	}

	if cfg.Agent.Host == "" && !rep.pos.has("agent.host") && hostErr != nil {
		rep.addf("agent.host", "required: the default, the OS hostname, is unavailable (%v)", hostErr)
	}
	k := &cfg.Kafka
	if k.TLS.CAFile != "" || k.TLS.CertFile != "" || k.TLS.KeyFile != "" {
		k.TLS.Enabled = true
	}
	l.readPasswordFile(rep, &k.SASL)
	if k.DeadLetterDir == "" && !rep.pos.has("kafka.dead_letter_dir") && cfg.Agent.DataDir != "" {
		k.DeadLetterDir = filepath.Join(cfg.Agent.DataDir, DefaultDeadLetterSubdir)
	}

	rep.validating = true
	cfg.validate(rep)
	if err := rep.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// document parses data into its single top-level mapping, reporting syntax
// errors, an empty file, several documents or a top level that is not a
// mapping. It returns nil after reporting.
func document(rep *reporter, data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			rep.addAt(0, "", "empty configuration file")
		} else {
			rep.syntaxError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		rep.addAt(extra.Line, "", "more than one YAML document (only one is allowed; remove the extra \"---\")")
		return nil
	case !errors.Is(err, io.EOF):
		rep.syntaxError(err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		rep.addAt(doc.Line, "", "empty configuration file")
		return nil
	}
	root := resolveAlias(doc.Content[0])
	switch {
	case isNull(root):
		rep.addAt(root.Line, "", "empty configuration file")
		return nil
	case root.Kind != yaml.MappingNode:
		rep.addAt(root.Line, "", fmt.Sprintf("the top level must be a mapping of keys (agent, http, kafka, pipelines), got %s", describeNode(root)))
		return nil
	}
	return root
}

// readPasswordFile fills s.Password from s.PasswordFile.
func (l loader) readPasswordFile(rep *reporter, s *SASL) {
	const key = "kafka.sasl.password_file"
	if s.PasswordFile == "" || rep.isBad(key) {
		return
	}
	if s.Password != "" {
		rep.add(key, "cannot be combined with kafka.sasl.password; set one of them")
		return
	}
	data, err := l.readFile(s.PasswordFile)
	if err != nil {
		rep.add(key, err.Error())
		return
	}
	v := strings.TrimSuffix(string(data), "\n")
	v = strings.TrimSuffix(v, "\r")
	if v == "" {
		rep.addf(key, "%s is empty", s.PasswordFile)
		return
	}
	s.Password = Secret(v)
}

// readSecretFile reads a regular file of at most maxSecretFileBytes. Errors
// name the path, never the content.
func readSecretFile(path string) ([]byte, error) {
	data, err := readRegularFile(path, maxSecretFileBytes)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	return data, nil
}
