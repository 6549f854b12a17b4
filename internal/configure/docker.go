package configure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/rro-runc/rro-runc/internal/argv"
	"github.com/rro-runc/rro-runc/internal/jsonedit"
)

// editDocker adds, in daemon.json:
//
//	"runtimes": {"NAME": {"path": "BINARY", "runtimeArgs": ["--rro-policy=P"]}},
//	"default-runtime": "NAME"
//
// Only the runtime's "path", the --rro-policy argument and
// "default-runtime" are ever changed; the runtime's other arguments and
// every other key stay where they are.
func editDocker(src []byte, o Options) ([]byte, error) {
	if len(bytes.TrimSpace(src)) == 0 {
		src = []byte("{}\n")
	}
	old, err := parseJSON(src)
	if err != nil {
		return nil, err
	}
	want := copyValue(old).(map[string]any)

	out := src
	set := func(path []string, key string, v any) error {
		obj, err := jsonLookup(want, path)
		if err != nil {
			return err
		}
		if cur, ok := obj[key]; ok && reflect.DeepEqual(cur, jsonNormal(v)) {
			return nil
		}
		obj[key] = jsonNormal(v)
		out, err = jsonSet(out, path, key, v)
		return err
	}

	rt := []string{"runtimes", o.RuntimeName}
	if err := set(rt, "path", o.Binary); err != nil {
		return nil, err
	}
	if o.Policy != "" {
		obj, err := jsonLookup(want, rt)
		if err != nil {
			return nil, err
		}
		var args []string
		if cur, ok := obj["runtimeArgs"]; ok {
			list, ok := stringList(cur)
			if !ok {
				return nil, fmt.Errorf("%w: runtimes.%s.runtimeArgs is not an array of strings", ErrUnsupported, o.RuntimeName)
			}
			args = list
		}
		args = withPolicy(args, o.Policy)
		if err := set(rt, "runtimeArgs", args); err != nil {
			return nil, err
		}
	}
	if o.SetAsDefault {
		if err := set(nil, "default-runtime", o.RuntimeName); err != nil {
			return nil, err
		}
	}

	if bytes.Equal(out, src) {
		return out, nil
	}
	got, err := parseJSON(out)
	if err := checkMeaning(got, want, err, "duplicate keys?"); err != nil {
		return nil, err
	}
	return out, nil
}

// withPolicy sets --rro-policy in a runtime's arguments: in place of the
// first one already there (either form), dropping any other, else last.
func withPolicy(args []string, policy string) []string {
	flag := "--" + argv.FlagPolicy
	var out []string
	done := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a != flag && !strings.HasPrefix(a, flag+"=") {
			out = append(out, a)
			continue
		}
		if a == flag {
			i++ // its value
		}
		if !done {
			out = append(out, flag+"="+policy)
			done = true
		}
	}
	if !done {
		out = append(out, flag+"="+policy)
	}
	return out
}

func parseJSON(src []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line := 1 + bytes.Count(src[:min(int(syn.Offset), len(src))], []byte("\n"))
			return nil, fmt.Errorf("%w as JSON: line %d: %w", ErrParse, line, err)
		}
		return nil, fmt.Errorf("%w as JSON: %w", ErrParse, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w as JSON: more than one value", ErrParse)
	}
	// Decode accepts trailing garbage after the value; Valid does not.
	if !json.Valid(src) {
		return nil, fmt.Errorf("%w as JSON: invalid text after the top-level object", ErrParse)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w as daemon.json: the top level is a %s, not an object", ErrParse, jsonType(v))
	}
	return m, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

// jsonNormal is v as encoding/json decodes it, for comparisons.
func jsonNormal(v any) any {
	switch v := v.(type) {
	case []string:
		return toAny(v)
	case jsonObject:
		m := map[string]any{}
		for _, kv := range v {
			m[kv.key] = jsonNormal(kv.value)
		}
		return m
	}
	return v
}

// jsonLookup walks path, creating missing objects.
func jsonLookup(m map[string]any, path []string) (map[string]any, error) {
	for i, k := range path {
		next, ok := m[k]
		if !ok {
			t := map[string]any{}
			m[k] = t
			m = t
			continue
		}
		t, ok := next.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s is a %s, not an object", ErrUnsupported, strings.Join(path[:i+1], "."), jsonType(next))
		}
		m = t
	}
	return m, nil
}

// jsonObject is an object with its keys in the order they are written.
type jsonObject []struct {
	key   string
	value any
}

// jsonMember is where one "key": value of an object is in the text.
type jsonMember struct {
	key                        string
	keyStart, valStart, valEnd int
}

type jsonScanner struct {
	src []byte
	pos int
}

func (s *jsonScanner) space() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *jsonScanner) str() (string, error) {
	start := s.pos
	if s.pos >= len(s.src) || s.src[s.pos] != '"' {
		return "", s.errorf("expected a string")
	}
	for s.pos++; s.pos < len(s.src); s.pos++ {
		switch s.src[s.pos] {
		case '\\':
			s.pos++
		case '"':
			s.pos++
			var v string
			if err := json.Unmarshal(s.src[start:s.pos], &v); err != nil {
				return "", s.errorf("bad string")
			}
			return v, nil
		}
	}
	return "", s.errorf("unterminated string")
}

// object reads the object at pos ('{') and returns its members and the
// offset of its '}'.
func (s *jsonScanner) object() ([]jsonMember, int, error) {
	s.pos++
	var members []jsonMember
	for {
		s.space()
		if s.pos < len(s.src) && s.src[s.pos] == '}' && len(members) == 0 {
			close := s.pos
			s.pos++
			return members, close, nil
		}
		m := jsonMember{keyStart: s.pos}
		k, err := s.str()
		if err != nil {
			return nil, 0, err
		}
		m.key = k
		s.space()
		if s.pos >= len(s.src) || s.src[s.pos] != ':' {
			return nil, 0, s.errorf("expected ':'")
		}
		s.pos++
		s.space()
		m.valStart = s.pos
		if err := s.skipValue(); err != nil {
			return nil, 0, err
		}
		m.valEnd = s.pos
		members = append(members, m)
		s.space()
		if s.pos >= len(s.src) {
			return nil, 0, s.errorf("unterminated object")
		}
		switch s.src[s.pos] {
		case ',':
			s.pos++
		case '}':
			close := s.pos
			s.pos++
			return members, close, nil
		default:
			return nil, 0, s.errorf("expected ',' or '}'")
		}
	}
}

func (s *jsonScanner) skipValue() error {
	if s.pos >= len(s.src) {
		return s.errorf("expected a value")
	}
	switch s.src[s.pos] {
	case '"':
		_, err := s.str()
		return err
	case '{':
		_, _, err := s.object()
		return err
	case '[':
		s.pos++
		s.space()
		if s.pos < len(s.src) && s.src[s.pos] == ']' {
			s.pos++
			return nil
		}
		for {
			s.space()
			if err := s.skipValue(); err != nil {
				return err
			}
			s.space()
			if s.pos >= len(s.src) {
				return s.errorf("unterminated array")
			}
			switch s.src[s.pos] {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return nil
			default:
				return s.errorf("expected ',' or ']'")
			}
		}
	}
	start := s.pos
	for s.pos < len(s.src) && !strings.ContainsRune(" \t\r\n,]}", rune(s.src[s.pos])) {
		s.pos++
	}
	if s.pos == start {
		return s.errorf("expected a value")
	}
	return nil
}

// lineIndent is the whitespace that starts the line holding pos.
func lineIndent(src []byte, pos int) string {
	start := bytes.LastIndexByte(src[:pos], '\n') + 1
	end := start
	for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
		end++
	}
	return string(src[start:end])
}

// jsonSet sets key in the object at path to v, splicing the text: it
// replaces an existing value, or adds a member after the object's last
// one, creating the objects on the path that are missing.
func jsonSet(src []byte, path []string, key string, v any) ([]byte, error) {
	s := &jsonScanner{src: src}
	s.space()
	if s.pos >= len(src) || src[s.pos] != '{' {
		return nil, fmt.Errorf("%w: the top level is not an object", ErrParse)
	}
	unit := indentUnit(src, s.pos)
	objStart := s.pos
	_, topClose, err := s.object()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	// A file written on one line stays on one line; the top-level object
	// of a new file gets one member a line.
	fileMulti := isMultiline(src, objStart, topClose) || topClose == objStart+1
	full := append(slices.Clone(path), key)
	for depth := 0; ; depth++ {
		s.pos = objStart
		members, closePos, err := s.object()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		// encoding/json keeps the last of duplicate keys; so does this.
		var found *jsonMember
		for i := range members {
			if members[i].key == full[depth] {
				found = &members[i]
			}
		}
		if found != nil && depth < len(full)-1 {
			if src[found.valStart] != '{' {
				return nil, fmt.Errorf("%w: %s is not an object", ErrUnsupported, strings.Join(full[:depth+1], "."))
			}
			objStart = found.valStart
			continue
		}
		// The value to write here: v, wrapped in the missing objects.
		val := v
		for i := len(full) - 1; i > depth; i-- {
			val = jsonObject{{full[i], val}}
		}
		if found != nil {
			indent := lineIndent(src, found.keyStart)
			multi := isMultiline(src, objStart, closePos)
			return splice(src, found.valStart, found.valEnd, renderJSON(val, indent, unit, multi)), nil
		}
		indent := lineIndent(src, objStart)
		if len(members) == 0 && !fileMulti {
			member := jsonQuote(full[depth]) + ": " + renderJSON(val, "", "", false)
			return splice(src, objStart+1, closePos, member), nil
		}
		if len(members) == 0 {
			member := jsonQuote(full[depth]) + ": " + renderJSON(val, indent+unit, unit, true)
			return splice(src, objStart+1, closePos, "\n"+indent+unit+member+"\n"+indent), nil
		}
		last := members[len(members)-1]
		if isMultiline(src, objStart, closePos) {
			mi := lineIndent(src, members[0].keyStart)
			member := jsonQuote(full[depth]) + ": " + renderJSON(val, mi, unit, true)
			return splice(src, last.valEnd, last.valEnd, ",\n"+mi+member), nil
		}
		member := jsonQuote(full[depth]) + ": " + renderJSON(val, "", "", false)
		return splice(src, last.valEnd, last.valEnd, ", "+member), nil
	}
}

// isMultiline reports whether the object's members are on lines of their own.
func isMultiline(src []byte, open, close int) bool {
	return bytes.IndexByte(src[open:close], '\n') >= 0
}

// indentUnit is the file's indentation step, from its first member.
func indentUnit(src []byte, top int) string {
	s := &jsonScanner{src: src, pos: top + 1}
	s.space()
	if i := bytes.LastIndexByte(src[top:s.pos], '\n'); i >= 0 {
		if u := string(src[top+i+1 : s.pos]); u != "" {
			return u
		}
	}
	return "  "
}

func jsonQuote(s string) string { return string(jsonedit.Quote(s)) }

// renderJSON writes v (string, []string or jsonObject) starting at a line
// indented by indent; multi puts members and elements on lines of their
// own, one unit deeper.
func renderJSON(v any, indent, unit string, multi bool) string {
	var items []string
	var open, close string
	switch v := v.(type) {
	case string:
		return jsonQuote(v)
	case []string:
		open, close = "[", "]"
		for _, s := range v {
			items = append(items, jsonQuote(s))
		}
	case jsonObject:
		open, close = "{", "}"
		for _, kv := range v {
			items = append(items, jsonQuote(kv.key)+": "+renderJSON(kv.value, indent+unit, unit, multi))
		}
	}
	if len(items) == 0 {
		return open + close
	}
	if !multi {
		return open + strings.Join(items, ", ") + close
	}
	inner := indent + unit
	return open + "\n" + inner + strings.Join(items, ",\n"+inner) + "\n" + indent + close
}
