package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	secretType   = reflect.TypeFor[Secret]()
)

// maxVisits bounds the work of a walk, so that nested aliases ("billion
// laughs") cannot make loading a small file expensive.
const maxVisits = 1_000_000

// walker checks a yaml.Node tree against the Go types it will be decoded
// into, before decoding, and prepares the tree for yaml.Node.Decode:
//
//   - unknown keys are reported (yaml.v3's KnownFields(true) is a Decoder
//     option that Node.Decode does not have);
//   - duplicate keys are reported and dropped (yaml.v3 would otherwise skip
//     the whole mapping, shifting the indices of pipelines[]);
//   - a value of the wrong shape (a list where a mapping belongs, ...), an
//     invalid size or duration, or an unsupported tag is reported and replaced
//     by a neutral node, so decoding still runs and reports everything else;
//   - ${VAR} references in scalar values are expanded in place;
//   - the position of every key is recorded for later messages.
//
// A walker is used by one goroutine for one Parse call.
type walker struct {
	rep      *reporter
	pos      *positions
	lookup   func(string) (string, bool)
	expanded map[*yaml.Node]bool
	visited  map[visit]bool
	visits   int
	aborted  bool
}

type visit struct {
	n *yaml.Node
	t reflect.Type
}

func newWalker(rep *reporter, pos *positions, lookup func(string) (string, bool)) *walker {
	return &walker{rep: rep, pos: pos, lookup: lookup, expanded: map[*yaml.Node]bool{}, visited: map[visit]bool{}}
}

// walk checks n (at key path) against t. It returns false when the caller
// must replace n by neutral(t, ...), the problem having been reported.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) bool {
	if w.aborted {
		return true
	}
	if w.visits++; w.visits > maxVisits {
		w.aborted = true
		w.rep.addAt(n.Line, "", "document too complex (excessive use of aliases)")
		return true
	}
	target := n
	for target.Kind == yaml.AliasNode {
		if target.Alias == nil {
			w.rep.add(path, "unresolved alias")
			return false
		}
		target = target.Alias
	}
	// A value used through several aliases is checked once; a result for a
	// node still being walked (a recursive alias) counts as good, and yaml.v3
	// rejects the recursion when decoding.
	v := visit{target, t}
	if ok, seen := w.visited[v]; seen {
		if !ok {
			w.rep.bad[path] = true // reported at the first use
		}
		return ok
	}
	w.visited[v] = true
	ok := w.walkTarget(target, t, path)
	w.visited[v] = ok
	return ok
}

func (w *walker) walkTarget(n *yaml.Node, t reflect.Type, path string) bool {
	if isNull(n) {
		return true // decoding keeps the default
	}
	switch {
	case t == durationType:
		return w.duration(n, path)
	case t == byteSizeType:
		return w.byteSize(n, path)
	}
	switch t.Kind() {
	case reflect.Struct:
		return w.structure(n, t, path)
	case reflect.Slice:
		return w.sequence(n, t, path)
	case reflect.Map:
		return w.mapping(n, t, path)
	default:
		return w.scalar(n, t, path)
	}
}

func (w *walker) mismatch(n *yaml.Node, t reflect.Type, path string) bool {
	w.rep.addf(path, "expected %s, got %s", describeType(t), describeNode(n))
	return false
}

func (w *walker) structure(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.MappingNode {
		return w.mismatch(n, t, path)
	}
	fields := yamlFields(t)
	seen := map[string]int{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			if path == "" {
				w.rep.addAt(k.Line, "", `merge keys ("<<") are not supported at the top level`)
				continue
			}
			if !w.merge(v, t, path) {
				w.rep.addAt(k.Line, joinKey(path, "<<"), `"<<" needs a mapping, an alias of one, or a list of those`)
				continue
			}
			kept = append(kept, k, v)
			continue
		}
		if !plainKey(k) {
			w.rep.addAt(k.Line, badKeyPath(path, k), "keys must be plain strings")
			continue
		}
		name := k.Value
		kp := joinKey(path, name)
		if first, dup := seen[name]; dup {
			w.rep.addAt(k.Line, kp, fmt.Sprintf("duplicate key %q (first defined at line %d)", name, first))
			continue
		}
		seen[name] = k.Line
		f, ok := fields[name]
		if !ok {
			w.rep.addAt(k.Line, kp, unknownKey(name, fields))
			continue // dropped, so it cannot reach the decoder
		}
		w.pos.addKey(kp, k)
		if !w.walk(v, f.Type, kp) {
			v = neutral(f.Type, false)
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
	return true
}

// merge checks the value of a "<<" key against the struct type t.
func (w *walker) merge(v *yaml.Node, t reflect.Type, path string) bool {
	isMap := func(n *yaml.Node) bool {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		return n.Kind == yaml.MappingNode
	}
	switch {
	case isMap(v):
		w.walk(v, t, path)
		return true
	case v.Kind == yaml.SequenceNode:
		for _, e := range v.Content {
			if !isMap(e) {
				return false
			}
		}
		for _, e := range v.Content {
			w.walk(e, t, path)
		}
		return true
	}
	return false
}

func (w *walker) sequence(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.SequenceNode {
		return w.mismatch(n, t, path)
	}
	et := t.Elem()
	for i, e := range n.Content {
		ep := fmt.Sprintf("%s[%d]", path, i)
		w.pos.addKey(ep, e)
		// yaml.v3 leaves out list items it cannot decode (including null
		// items); a neutral item keeps the indices aligned with the file.
		if isNull(resolveAlias(e)) || !w.walk(e, et, ep) {
			n.Content[i] = neutral(et, true)
		}
	}
	return true
}

func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.MappingNode {
		return w.mismatch(n, t, path)
	}
	et := t.Elem()
	seen := map[string]int{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !plainKey(k) || isMergeKey(k) {
			w.rep.addAt(k.Line, badKeyPath(path, k), "keys must be plain strings")
			continue
		}
		kp := mapKey(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.rep.addAt(k.Line, kp, fmt.Sprintf("duplicate key %q (first defined at line %d)", k.Value, first))
			continue
		}
		seen[k.Value] = k.Line
		w.pos.addKey(kp, k)
		if isNull(resolveAlias(v)) || !w.walk(v, et, kp) {
			v = neutral(et, true)
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
	return true
}

// scalar checks a string, bool or integer value and expands ${VAR} in it.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.ScalarNode {
		return w.mismatch(n, t, path)
	}
	if !w.prepareScalar(n, path, t == secretType) {
		return false
	}
	if t == secretType {
		// Always a string: yaml.v3 quotes values in its errors, and a secret
		// must never reach an error message.
		n.Tag = "!!str"
	}
	w.pos.addScalar(n, path)
	return true
}

func (w *walker) duration(n *yaml.Node, path string) bool {
	if n.Kind != yaml.ScalarNode {
		return w.mismatch(n, durationType, path)
	}
	if !w.prepareScalar(n, path, false) {
		return false
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		w.rep.addf(path, `durations need a unit: write %q, not %s (units: ns, us, ms, s, m, h)`, n.Value+"s", n.Value)
		return false
	case "!!str":
	default:
		return w.mismatch(n, durationType, path)
	}
	if _, err := time.ParseDuration(n.Value); err != nil {
		w.rep.addf(path, `invalid duration %q: use a number with a unit (ns, us, ms, s, m, h), such as "10s" or "1m30s"`, n.Value)
		return false
	}
	w.pos.addScalar(n, path)
	return true
}

func (w *walker) byteSize(n *yaml.Node, path string) bool {
	if n.Kind != yaml.ScalarNode {
		return w.mismatch(n, byteSizeType, path)
	}
	if !w.prepareScalar(n, path, false) {
		return false
	}
	if _, err := ParseByteSize(n.Value); err != nil {
		w.rep.add(path, err.Error())
		return false
	}
	w.pos.addScalar(n, path)
	return true
}

// prepareScalar rejects tags yaml.v3 would abort the whole decode on, and
// expands ${VAR} references once per node. For a secret, an expansion error
// names the key only: the variable names are part of the value.
func (w *walker) prepareScalar(n *yaml.Node, path string, secret bool) bool {
	if n.Style&yaml.TaggedStyle != 0 {
		implicit := (&yaml.Node{Kind: yaml.ScalarNode, Value: n.Value}).ShortTag()
		if tag := n.ShortTag(); tag != "!!str" && tag != implicit {
			w.rep.addf(path, "unsupported tag %s for this value", n.Tag)
			return false
		}
	}
	if w.expanded[n] {
		return true
	}
	w.expanded[n] = true
	if !strings.Contains(n.Value, "$") {
		return true
	}
	v, err := expand(n.Value, w.lookup)
	if err != nil && secret {
		w.rep.add(path, `a "${...}" reference in this secret cannot be expanded: a variable it names is not set, or a reference is malformed (the value is not shown)`)
		return false
	}
	if err != nil {
		w.rep.add(path, err.Error())
		return false
	}
	n.Value = v
	if n.Style == 0 {
		// A plain scalar's tag was resolved from the text "${...}" (a
		// string); resolve it again from the expanded text so that
		// "partition: ${P}" is an integer. An expanded value is never null:
		// "listen: ${EMPTY}" sets "", it does not fall back to the default.
		n.Tag = ""
		if n.ShortTag() == "!!null" {
			n.Tag = "!!str"
		}
	}
	return true
}

// neutral returns a node that decodes without error into t: null (keeping
// the default) for a field, an empty value for a list item or map value.
func neutral(t reflect.Type, item bool) *yaml.Node {
	if !item {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	case reflect.Slice:
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"}
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// plainKey reports whether k is a scalar key without an explicit tag other
// than !!str (yaml.v3 aborts the whole decode on a key like "!!int a").
func plainKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && (k.Style&yaml.TaggedStyle == 0 || k.ShortTag() == "!!str")
}

// badKeyPath names a key that is not a plain string, for its message.
func badKeyPath(path string, k *yaml.Node) string {
	if k.Kind == yaml.ScalarNode {
		return joinKey(path, k.Value)
	}
	return joinKey(path, "<"+describeNode(k)+">")
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var rePlainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// mapKey is the key path of an entry of a free-form map such as fields.
func mapKey(path, key string) string {
	if rePlainKey.MatchString(key) {
		return path + "." + key
	}
	return fmt.Sprintf("%s[%q]", path, key)
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.StructField

// yamlFields maps the yaml key of each field of struct type t to the field.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.StructField)
	}
	m := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f
	}
	fieldCache.Store(t, m)
	return m
}

// unknownKey builds the message for an unknown key, suggesting the closest
// valid key when there is one.
func unknownKey(name string, fields map[string]reflect.StructField) string {
	best, bestDist := "", 3
	for k := range fields {
		if d := editDistance(name, k); d < bestDist || d == bestDist && best != "" && k < best {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", name, best)
	}
	return fmt.Sprintf("unknown key %q", name)
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
