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

// jsonLookup walks path in a decoded daemon.json, creating missing
// objects.
func jsonLookup(m map[string]any, path []string) (map[string]any, error) {
	return walkTables(m, path, true, func(i int, v any) error {
		return fmt.Errorf("%w: %s is a %s, not an object", ErrUnsupported, strings.Join(path[:i+1], "."), jsonType(v))
	})
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

// jsonMembers finds the members of the object whose '{' is at open, and
// the offset of its '}', with encoding/json's decoder (the decoder
// dockerd reads daemon.json with): its InputOffset after each token is
// where that token ends, and a json.RawMessage holds a value's exact
// bytes. It only runs on text parseJSON has accepted.
func jsonMembers(src []byte, open int) ([]jsonMember, int, error) {
	dec := json.NewDecoder(bytes.NewReader(src[open:]))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, 0, fmt.Errorf("offset %d: not an object", open)
	}
	var members []jsonMember
	for dec.More() {
		// The key starts after the blanks and the comma that follow the
		// previous member (or the '{').
		keyStart := open + int(dec.InputOffset())
		for src[keyStart] != '"' {
			keyStart++
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0, err
		}
		end := open + int(dec.InputOffset())
		members = append(members, jsonMember{key: tok.(string), keyStart: keyStart, valStart: end - len(raw), valEnd: end})
	}
	if _, err := dec.Token(); err != nil {
		return nil, 0, err
	}
	return members, open + int(dec.InputOffset()) - 1, nil
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
	objStart := len(src) - len(bytes.TrimLeft(src, " \t\r\n"))
	unit := indentUnit(src, objStart)
	_, topClose, err := jsonMembers(src, objStart)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	// A file written on one line stays on one line; the top-level object
	// of a new file gets one member a line.
	fileMulti := isMultiline(src, objStart, topClose) || topClose == objStart+1
	full := append(slices.Clone(path), key)
	for depth := 0; ; depth++ {
		members, closePos, err := jsonMembers(src, objStart)
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
	first := len(src) - len(bytes.TrimLeft(src[top+1:], " \t\r\n"))
	if i := bytes.LastIndexByte(src[top:first], '\n'); i >= 0 {
		if u := string(src[top+i+1 : first]); u != "" {
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
