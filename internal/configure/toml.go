package configure

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/rro-runc/rro-runc/internal/jsonedit"
	"github.com/rro-runc/rro-runc/internal/tomlstr"
)

// tomlChange is one intended setting: table.key = value (a string or a
// []string), or, with add set, "the string array table.key holds every
// string of add and none of drop" (created as value plus add when the key
// is absent).
type tomlChange struct {
	table     []string
	key       string
	value     any
	add, drop []string
}

func (c tomlChange) String() string {
	return tomlKeyPath(append(slices.Clone(c.table), c.key))
}

func parseTOML(src []byte) (map[string]any, error) {
	m := map[string]any{}
	if _, err := toml.Decode(string(src), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// editTOML applies changes to src as text, then proves the result means
// exactly what was intended: the parsed result must equal the parsed
// input with the changes applied, nothing more and nothing less.
func editTOML(src []byte, old map[string]any, changes []tomlChange) ([]byte, error) {
	want := deepCopy(old)
	out := src
	var err error
	for _, c := range changes {
		table, err := lookupTable(want, c.table, true)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrUnsupported, err)
		}
		cur, present := table[c.key]
		if c.add != nil {
			if present {
				list, ok := stringList(cur)
				if !ok {
					return nil, fmt.Errorf("%w: %s is not an array of strings", ErrUnsupported, c)
				}
				if out, err = tomlEditList(out, c, list); err != nil {
					return nil, fmt.Errorf("%w: cannot change %s: %v", ErrUnsupported, c, err)
				}
				table[c.key] = toAny(editedList(list, c.add, c.drop))
				continue
			}
			c.value = editedList(c.value.([]string), c.add, nil)
		}
		var lit string
		var val any
		switch v := c.value.(type) {
		case string:
			lit, val = tomlstr.Quote(v), v
		case []string:
			lit, val = tomlStrings(v), toAny(v)
		case int64:
			lit, val = fmt.Sprint(v), v
		default:
			return nil, fmt.Errorf("configure: internal error: value %T for %s", v, c)
		}
		if present && reflect.DeepEqual(cur, val) {
			continue
		}
		table[c.key] = val
		if out, err = tomlSet(out, c.table, c.key, lit); err != nil {
			return nil, fmt.Errorf("%w: cannot set %s: %v", ErrUnsupported, c, err)
		}
	}
	got, err := parseTOML(out)
	if err := checkMeaning(got, want, err, "a table defined inline or through dotted keys?"); err != nil {
		return nil, err
	}
	return out, nil
}

// checkMeaning is the last guard of every edit: the edited text, parsed,
// must be exactly the original document with the intended changes.
func checkMeaning(got, want map[string]any, parseErr error, hint string) error {
	if parseErr != nil {
		return fmt.Errorf("%w: the edited text would not parse (%v); the file's layout is one rroctl cannot edit as text", ErrUnsupported, parseErr)
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("%w: the edited text would not mean what was intended (%s); edit the file by hand", ErrUnsupported, hint)
	}
	return nil
}

// lookupTable walks path in m, a decoded TOML document; with create,
// missing tables are made.
func lookupTable(m map[string]any, path []string, create bool) (map[string]any, error) {
	return walkTables(m, path, create, func(i int, v any) error {
		return fmt.Errorf("%s is a %s, not a table", tomlKeyPath(path[:i+1]), typeName(v))
	})
}

// walkTables is the one walk down nested tables (TOML) or objects
// (daemon.json), both decoded into map[string]any: it follows path,
// making missing levels when create is set (else it returns nil), and
// reports a level that is some other value with notTable(i, value).
func walkTables(m map[string]any, path []string, create bool, notTable func(i int, v any) error) (map[string]any, error) {
	for i, k := range path {
		next, ok := m[k]
		if !ok {
			if !create {
				return nil, nil
			}
			t := map[string]any{}
			m[k] = t
			m = t
			continue
		}
		t, ok := next.(map[string]any)
		if !ok {
			return nil, notTable(i, next)
		}
		m = t
	}
	return m, nil
}

func typeName(v any) string {
	switch v.(type) {
	case []map[string]any:
		return "array of tables"
	case []any:
		return "array"
	case string:
		return "string"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// deepCopy copies the maps and slices of a decoded document so that the
// expected result can be built without touching the original.
func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case []map[string]any:
		c := make([]map[string]any, len(v))
		for i, e := range v {
			c[i] = deepCopy(e)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = copyValue(e)
		}
		return c
	}
	return v
}

func splice(src []byte, start, end int, text string) []byte {
	return jsonedit.Splice(src, jsonedit.Edit{Start: start, End: end, Text: []byte(text)})
}

// findKV returns the last key/value pair whose absolute key is path.
func (d *tomlDoc) findKV(path []string) *tomlKV {
	for i := len(d.kvs) - 1; i >= 0; i-- {
		if slices.Equal(d.fullPath(&d.kvs[i]), path) {
			return &d.kvs[i]
		}
	}
	return nil
}

// checkNotInArray refuses a table inside an array of tables: which
// element a header belongs to depends on position, and none of the
// settings rroctl writes lives there.
func (d *tomlDoc) checkNotInArray(table []string) error {
	for _, h := range d.headers {
		if h.array && len(h.path) <= len(table) && slices.Equal(h.path, table[:len(h.path)]) {
			return fmt.Errorf("[%s] is inside the array of tables [[%s]]", tomlKeyPath(table), tomlKeyPath(h.path))
		}
	}
	return nil
}

// tomlSet sets table.key to the TOML literal lit: in place when the key
// exists, else as a new line in the table, else in a new table.
func tomlSet(src []byte, table []string, key, lit string) ([]byte, error) {
	d, err := scanTOML(src)
	if err != nil {
		return nil, err
	}
	if err := d.checkNotInArray(table); err != nil {
		return nil, err
	}
	full := append(slices.Clone(table), key)
	if kv := d.findKV(full); kv != nil {
		return splice(src, kv.valStart, kv.valEnd, lit), nil
	}

	// The table has a header (or is the root): add a line to it, after
	// its last pair so that comments before the next header stay with it.
	hdr := -2
	if len(table) == 0 {
		hdr = -1
	}
	for i, h := range d.headers {
		if !h.array && slices.Equal(h.path, table) {
			hdr = i
		}
	}
	if hdr >= -1 {
		pos, indent := -1, ""
		for i := range d.kvs {
			if kv := &d.kvs[i]; kv.header == hdr {
				pos, indent = kv.end, kv.indent
			}
		}
		if pos < 0 {
			switch {
			case hdr >= 0:
				pos, indent = d.headers[hdr].end, d.headers[hdr].indent+d.keyIndent()
			case len(d.headers) > 0:
				pos = d.headers[0].start
			default:
				pos = len(src)
			}
		}
		return insertLines(src, pos, indent+tomlKey(key)+" = "+lit+"\n", false), nil
	}

	best, common := -1, 0
	for i, h := range d.headers {
		n := commonPrefix(h.path, table)
		if n > 0 && n >= common {
			best, common = i, n
		}
	}

	// The table, or its closest ancestor, exists only through dotted keys
	// in another table ([engine] runtimes.x = ...): add another dotted
	// key beside them, in the same style.
	dotted, depth := -1, 0
	for i := range d.kvs {
		kv := &d.kvs[i]
		t, fp := d.table(kv), d.fullPath(kv)
		if n := commonPrefix(fp[:len(fp)-1], table); n > len(t) && n >= depth {
			dotted, depth = i, n
		}
	}
	if dotted >= 0 && depth > common {
		kv := &d.kvs[dotted]
		k := append(slices.Clone(table[len(d.table(kv)):]), key)
		return insertLines(src, kv.end, kv.indent+tomlKeyPath(k)+" = "+lit+"\n", false), nil
	}

	// A new table, placed after the last table that shares the longest
	// leading path with it, so that related tables stay together.
	pos, indent := len(src), ""
	if best >= 0 {
		h := d.headers[best]
		pos = h.end
		for i := range d.kvs {
			if d.kvs[i].header == best {
				pos = d.kvs[i].end
			}
		}
		// Follow the file's habit: nested headers indented two spaces a
		// level (containerd's generated config) or not at all.
		if h.indent != "" {
			n := len(h.indent) + 2*(len(table)-len(h.path))
			indent = strings.Repeat(" ", max(n, 0))
		}
	}
	text := indent + "[" + tomlKeyPath(table) + "]\n" + indent + d.keyIndent() + tomlKey(key) + " = " + lit + "\n"
	return insertLines(src, pos, text, true), nil
}

// keyIndent is how much deeper than its header the file indents keys.
func (d *tomlDoc) keyIndent() string {
	for i := range d.kvs {
		kv := &d.kvs[i]
		if kv.header >= 0 {
			h := d.headers[kv.header].indent
			if len(kv.indent) > len(h) && strings.HasPrefix(kv.indent, h) {
				return kv.indent[len(h):]
			}
			return ""
		}
	}
	return ""
}

func commonPrefix(a, b []string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// insertLines inserts whole lines at pos, the start of a line or the end
// of the text, with a blank line before them when blankBefore is set and
// pos is not the start of the text. Every insertion is one that remove
// can take out again to give back the exact bytes: the blank line comes
// always (not only when the text before lacks one), and a text without a
// final newline keeps lacking one.
func insertLines(src []byte, pos int, text string, blankBefore bool) []byte {
	nl := newline(src)
	if nl != "\n" {
		text = strings.ReplaceAll(text, "\n", nl)
	}
	var pre string
	if pos > 0 && src[pos-1] != '\n' {
		// Only at the end of a text without a final newline.
		pre, text = nl, strings.TrimSuffix(text, nl)
	}
	if blankBefore && pos > 0 {
		pre += nl
	}
	return splice(src, pos, pos, pre+text)
}

// newline is the file's line ending, so CRLF files stay CRLF.
func newline(src []byte) string {
	if i := bytes.IndexByte(src, '\n'); i > 0 && src[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// tomlAppend adds the string s to the array table.key, after its last
// element, keeping the array's layout (one element a line, or not).
func tomlAppend(src []byte, table []string, key, s string) ([]byte, error) {
	d, err := scanTOML(src)
	if err != nil {
		return nil, err
	}
	kv := d.findKV(append(slices.Clone(table), key))
	if kv == nil || kv.elems == nil {
		return nil, fmt.Errorf("not an array of strings in the text")
	}
	lit := tomlstr.Quote(s)
	if len(kv.elems) == 0 {
		// Right after '[', keeping what the array held (blanks,
		// comments), so that removing the element gives it back.
		return splice(src, kv.valStart+1, kv.valStart+1, lit), nil
	}
	last := kv.elems[len(kv.elems)-1]
	// A trailing comma after the last element?
	after := skipTOMLSpace(src, last.end)
	trailing := src[after] == ','
	lineStart := bytes.LastIndexByte(src[:last.start], '\n') + 1
	multiline := bytes.IndexByte(src[kv.valStart:last.start], '\n') >= 0
	elemIndent := src[lineStart:last.start]
	switch {
	case multiline && trailing && len(bytes.TrimLeft(elemIndent, " \t")) == 0:
		// One element a line, each with its comma: a new line alike.
		return insertLines(src, lineEnd(src, after), string(elemIndent)+lit+",\n", false), nil
	case trailing:
		return splice(src, after+1, after+1, " "+lit+","), nil
	default:
		return splice(src, last.end, last.end, ", "+lit), nil
	}
}

// editedList is list with the strings of add it lacks in place of the
// first string of drop, or after the last element when none is there,
// and without the other strings of drop: what tomlEditList does to the
// text.
func editedList(list, add, drop []string) []string {
	missing := slices.DeleteFunc(slices.Clone(add), func(s string) bool { return slices.Contains(list, s) })
	out := []string{}
	for _, s := range list {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		} else {
			out, missing = append(out, missing...), nil
		}
	}
	return append(out, missing...)
}

// tomlEditList makes the string array c.table.c.key, now list, hold every
// string of c.add and none of c.drop, element by element so that the
// array keeps its layout and comments: the first dropped element gives
// its place to the strings to add, the others are removed, and what is
// still missing is appended.
func tomlEditList(src []byte, c tomlChange, list []string) ([]byte, error) {
	missing := slices.DeleteFunc(slices.Clone(c.add), func(s string) bool { return slices.Contains(list, s) })
	path := append(slices.Clone(c.table), c.key)
	for i := len(list) - 1; i >= 0; i-- {
		if !slices.Contains(c.drop, list[i]) {
			continue
		}
		d, err := scanTOML(src)
		if err != nil {
			return nil, err
		}
		kv := d.findKV(path)
		if kv == nil || len(kv.elems) != len(list) {
			return nil, fmt.Errorf("the array in the text is not the one parsed")
		}
		if first := slices.IndexFunc(list, func(s string) bool { return slices.Contains(c.drop, s) }); i == first && len(missing) > 0 {
			e := kv.elems[i]
			src = splice(src, e.start, e.end, strings.TrimSuffix(strings.TrimPrefix(tomlStrings(missing), "["), "]"))
			missing = nil
			continue
		}
		src = removeElem(src, kv, i)
	}
	var err error
	for _, s := range missing {
		if src, err = tomlAppend(src, c.table, c.key, s); err != nil {
			return nil, err
		}
	}
	return src, nil
}

// removeElem takes element i out of an array value, undoing what
// tomlAppend did to add it: its own line when it has one, else the
// separator before it (or after it, for the first element).
func removeElem(src []byte, kv *tomlKV, i int) []byte {
	e := kv.elems[i]
	lineStart := bytes.LastIndexByte(src[:e.start], '\n') + 1
	rest := e.end
	for rest < len(src) && (src[rest] == ' ' || src[rest] == '\t') {
		rest++
	}
	if rest < len(src) && src[rest] == ',' {
		rest++
	}
	ownLine := len(bytes.Trim(src[lineStart:e.start], " \t")) == 0 && lineStart > kv.valStart &&
		len(bytes.Trim(src[rest:lineEnd(src, rest)], " \t\r\n")) == 0
	switch {
	case ownLine:
		return splice(src, lineStart, lineEnd(src, rest), "")
	case i > 0:
		return splice(src, kv.elems[i-1].end, e.end, "")
	case len(kv.elems) > 1:
		return splice(src, e.start, kv.elems[1].start, "")
	case src[rest-1] == ',':
		return splice(src, e.start, rest, "")
	default:
		return splice(src, e.start, e.end, "")
	}
}
