package rewrite

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The helpers below walk JSON that parse (parse.go) has already accepted,
// for the few places that look again after the one recording pass: an
// options array, the annotations object, duplicate options. They find
// the byte spans of values without decoding them, so that whatever
// rro-runc does not change is copied byte for byte. Because the input is
// known to be valid, they trust its shape and only guard against running
// off the end.

// span is the half-open byte range [start, end) of one JSON value.
type span struct{ start, end int }

// member is one "key": value pair of an object. key is the raw string
// literal, quotes included, so that comparing keys allocates nothing.
type member struct {
	key   []byte
	keyAt int // where the key literal starts
	val   span
	n     int // for a top-level "mounts" array: how many elements it has
}

// is reports whether the member would fill the struct field whose JSON
// name is field, which must be lowercase ASCII letters. encoding/json,
// and therefore runc, matches field names case-insensitively with
// Unicode simple folding (bytes.EqualFold), so "Mounts" and even
// "mountſ" fill Spec.Mounts.
func (m member) is(field string) bool {
	raw := m.key[1 : len(m.key)-1]
	if len(raw) == len(field) {
		i := 0
		for i < len(raw) && raw[i]|0x20 == field[i] {
			i++
		}
		if i == len(raw) {
			return true
		}
	}
	// Only escapes or non-ASCII letters (ſ folds to s) can still match;
	// this check keeps the common mismatch free of decoding. Measured:
	// decoding every key instead makes 100,000 allocations and costs a
	// third more CPU time in BenchmarkRewrite10000.
	for _, c := range raw {
		if c >= 0x80 || c == '\\' {
			return bytes.EqualFold([]byte(decodeString(m.key)), []byte(field))
		}
	}
	return false
}

// isExact reports whether the member has exactly this key, which is how
// encoding/json matches map keys.
func (m member) isExact(key string) bool {
	raw := m.key[1 : len(m.key)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == key
	}
	return decodeString(m.key) == key
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// valueEnd returns the index just after the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isSpace(b[i]) {
			i++
		}
		return i
	}
}

// stringEnd returns the index just after the string literal that starts
// at b[i]. It jumps from quote to quote with IndexByte, which is what
// keeps long configs cheap: most of a config.json is string bytes.
func stringEnd(b []byte, i int) int {
	i++
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// members appends an object's members, in document order, to dst.
// s must span an object.
func members(b []byte, s span, dst []member) []member {
	dst, _ = object(b, s.start, dst)
	return dst
}

// object appends the members of the object that starts at b[start] to
// dst and returns them with the index just after the object: one pass,
// where members after valueEnd would make two.
func object(b []byte, start int, dst []member) ([]member, int) {
	i := skipSpace(b, start+1)
	for i < len(b) && b[i] == '"' {
		kStart, kEnd := i, stringEnd(b, i)
		key := b[i:kEnd]
		i = skipSpace(b, kEnd) + 1 // past ':'
		i = skipSpace(b, i)
		vEnd := valueEnd(b, i)
		dst = append(dst, member{key: key, keyAt: kStart, val: span{i, vEnd}})
		i = skipSpace(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return dst, min(i+1, len(b)) // past '}'
}

// decodeString decodes a string literal as encoding/json would, including
// its replacement of invalid UTF-8 by U+FFFD. The common case, no escapes
// and valid UTF-8, is a plain copy; mount options that rro-runc looks at
// are returned without even that. Measured: without the switch below,
// BenchmarkRewrite10000 makes 28,000 more allocations and takes about a
// tenth more CPU time.
func decodeString(lit []byte) string {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		switch string(inner) { // no allocation for a switch on string(bytes)
		case "bind":
			return "bind"
		case "rbind":
			return "rbind"
		case "ro":
			return "ro"
		case "rw":
			return "rw"
		case "rprivate":
			return "rprivate"
		case "private":
			return "private"
		case "rslave":
			return "rslave"
		case "slave":
			return "slave"
		case "rshared":
			return "rshared"
		case "shared":
			return "shared"
		case "runbindable":
			return "runbindable"
		case "unbindable":
			return "unbindable"
		case "rrw":
			return "rrw"
		case "rro":
			return "rro"
		case "nosuid":
			return "nosuid"
		case "nodev":
			return "nodev"
		case "noexec":
			return "noexec"
		}
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(lit, &s) // a valid literal by construction
	return s
}
