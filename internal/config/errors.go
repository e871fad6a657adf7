package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one configuration problem. Load, Parse and Validate return
// every problem they find as *FieldError values joined with errors.Join
// (use errors.As, or Unwrap() []error, to inspect them). Msg never contains a
// secret value.
type FieldError struct {
	File string // the name given to Parse (the path for Load); "" from Validate
	Line int    // 1-based line in File; 0 when unknown
	Key  string // key path such as "pipelines[0].topic"; "" for document-level problems
	Msg  string // the problem
}

// Error formats the problem as "FILE:LINE: key.path: problem", leaving out the
// parts that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// positions maps key paths to the nodes they were written at, so that any
// problem found before or after decoding can be reported at its line.
type positions struct {
	root    *yaml.Node            // the top-level mapping
	keys    map[string]*yaml.Node // key path -> key node (or element node for list items)
	scalars map[int][]scalarPos   // line -> scalar values on it, to place yaml.v3 TypeErrors
}

type scalarPos struct {
	value string
	key   string
}

func newPositions(root *yaml.Node) *positions {
	return &positions{root: root, keys: map[string]*yaml.Node{}, scalars: map[int][]scalarPos{}}
}

func (p *positions) addKey(key string, n *yaml.Node) {
	if _, ok := p.keys[key]; !ok { // the first use site wins for aliased nodes
		p.keys[key] = n
	}
}

func (p *positions) addScalar(n *yaml.Node, key string) {
	p.scalars[n.Line] = append(p.scalars[n.Line], scalarPos{value: n.Value, key: key})
}

// has reports whether key was written in the file.
func (p *positions) has(key string) bool {
	_, ok := p.keys[key]
	return ok
}

// line returns the line of key, or for a key that is not in the file the line
// of the nearest enclosing key that is, or of the document.
func (p *positions) line(key string) int {
	for {
		if n, ok := p.keys[key]; ok {
			return n.Line
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return p.root.Line
		}
		key = key[:i]
	}
}

// reporter collects FieldErrors. In the decode phase every problem marks its
// key as bad; in the validate phase problems at or under a bad key are dropped
// so that one mistake is reported once.
type reporter struct {
	file       string
	pos        *positions // nil for Validate
	validating bool
	bad        map[string]bool
	errs       []*FieldError
}

func newReporter(file string, pos *positions) *reporter {
	return &reporter{file: file, pos: pos, bad: map[string]bool{}}
}

// isBad reports whether key, or a key enclosing it, already has a decode error.
func (r *reporter) isBad(key string) bool {
	for k := key; ; {
		if r.bad[k] {
			return true
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			return false
		}
		k = k[:i]
	}
}

// add records msg at key, placed at the line where key (or its nearest
// enclosing key) is written.
func (r *reporter) add(key, msg string) {
	line := 0
	if r.pos != nil {
		line = r.pos.line(key)
	}
	r.addAt(line, key, msg)
}

func (r *reporter) addf(key, format string, args ...any) { r.add(key, fmt.Sprintf(format, args...)) }

// addAt records msg at an explicit line.
func (r *reporter) addAt(line int, key, msg string) {
	if key != "" {
		if r.validating && r.isBad(key) || !r.validating && r.bad[key] {
			return
		}
		if !r.validating {
			r.bad[key] = true
		}
	}
	r.errs = append(r.errs, &FieldError{File: r.file, Line: line, Key: key, Msg: msg})
}

// err returns the collected problems ordered by line, or nil.
func (r *reporter) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	sort.SliceStable(r.errs, func(i, j int) bool { return r.errs[i].Line < r.errs[j].Line })
	errs := make([]error, len(r.errs))
	for i, e := range r.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

var (
	reLine         = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	reCannot       = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
	reNotFound     = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	reAlreadySet   = regexp.MustCompile(`^field (\S+) already set in type \S+$`)
	reAlreadyDefin = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
)

// syntaxError converts a yaml.v3 parse error ("yaml: line 3: ...").
func (r *reporter) syntaxError(err error) {
	msg := err.Error()
	if m := reLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		r.addAt(line, "", "invalid YAML: "+m[2])
		return
	}
	r.addAt(0, "", "invalid YAML: "+strings.TrimPrefix(msg, "yaml: "))
}

// decodeError converts the result of yaml.Node.Decode: each TypeError entry
// ("line N: cannot unmarshal !!str `x` into int32") becomes a FieldError at
// the key that holds the value.
func (r *reporter) decodeError(err error) {
	if err == nil {
		return
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		r.addAt(0, "", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	for _, e := range te.Errors {
		m := reLine.FindStringSubmatch(e)
		if m == nil {
			r.addAt(0, "", e)
			continue
		}
		line, _ := strconv.Atoi(m[1])
		msg, value, key := m[2], "", ""
		switch {
		case reCannot.MatchString(msg):
			c := reCannot.FindStringSubmatch(msg)
			value = c[2]
			msg = fmt.Sprintf("expected %s, got %s", describeGoType(c[3]), describeTag(c[1]))
			if value != "" {
				msg += " " + strconv.Quote(value)
			}
		case reNotFound.MatchString(msg):
			msg = fmt.Sprintf("unknown key %q", reNotFound.FindStringSubmatch(msg)[1])
		case reAlreadySet.MatchString(msg):
			msg = fmt.Sprintf("duplicate key %q", reAlreadySet.FindStringSubmatch(msg)[1])
		case reAlreadyDefin.MatchString(msg):
			c := reAlreadyDefin.FindStringSubmatch(msg)
			msg = fmt.Sprintf("duplicate key %q (first defined at line %s)", c[1], c[2])
		}
		if r.pos != nil {
			key = r.pos.keyAtLine(line, value)
		}
		if key == "" {
			r.addAt(line, "", msg)
		} else {
			r.add(key, msg)
		}
	}
}

// keyAtLine finds the key whose scalar value yaml.v3 quoted in a TypeError
// (it shortens values longer than 10 bytes to their first 7 and "...").
func (p *positions) keyAtLine(line int, quoted string) string {
	cands := p.scalars[line]
	for _, c := range cands {
		if c.value == quoted || strings.HasSuffix(quoted, "...") && len(c.value) > 10 && strings.HasPrefix(c.value, strings.TrimSuffix(quoted, "...")) {
			return c.key
		}
	}
	if len(cands) == 1 {
		return cands[0].key
	}
	return ""
}

func describeTag(tag string) string {
	switch tag {
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!timestamp":
		return "a timestamp"
	}
	return "a value tagged " + tag
}

// describeGoType names the expected value for a Go type as printed by
// yaml.v3 (reflect.Type.String()).
func describeGoType(t string) string {
	switch {
	case t == "bool":
		return "true or false"
	case t == "string" || t == "config.Secret" || enumTypes[t]:
		return "a string"
	case t == "config.ByteSize":
		return `a size such as "32MiB"`
	case t == "time.Duration":
		return `a duration such as "10s"`
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "an integer (" + t + ")"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map[") || strings.HasPrefix(t, "config."):
		return "a mapping"
	}
	return t
}

// describeNode names what a node holds, for shape mismatches found before
// decoding. It never includes the node's value.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return describeTag(n.ShortTag())
	}
	return "an unsupported node"
}

// describeType names the expected value for a Go type, for shape mismatches
// found before decoding.
func describeType(t reflect.Type) string {
	switch t {
	case byteSizeType, durationType, secretType:
		return describeGoType(t.String())
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	}
	return t.String()
}
