package rewrite

import (
	"encoding/json"
	"strings"
)

// The scanner below walks JSON that json.Valid has accepted, finding the
// byte spans of values without decoding them, so that everything rro-runc
// does not change is copied byte for byte.

// span is the half-open byte range of one JSON value.
type span struct{ start, end int }

type member struct {
	key string
	val span
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just after the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// stringEnd returns the index just after the string starting at b[i].
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// members lists an object's members in order. s must span an object.
func members(b []byte, s span) []member {
	var out []member
	i := skipSpace(b, s.start+1)
	for i < s.end && b[i] == '"' {
		kEnd := stringEnd(b, i)
		key := decodeString(b[i:kEnd])
		i = skipSpace(b, kEnd) + 1 // past ':'
		i = skipSpace(b, i)
		vEnd := valueEnd(b, i)
		out = append(out, member{key: key, val: span{i, vEnd}})
		i = skipSpace(b, vEnd)
		if i < s.end && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return out
}

// elements lists an array's elements. s must span an array.
func elements(b []byte, s span) []span {
	var out []span
	i := skipSpace(b, s.start+1)
	for i < s.end && b[i] != ']' {
		end := valueEnd(b, i)
		out = append(out, span{i, end})
		i = skipSpace(b, end)
		if i < s.end && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return out
}

// decodeString decodes a JSON string literal, without allocating a
// decoder for the common case of no escapes.
func decodeString(lit []byte) string {
	inner := lit[1 : len(lit)-1]
	if !strings.ContainsRune(string(inner), '\\') {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(lit, &s) // valid by construction
	return s
}

// lastMember finds the member runc's decoder would use for a struct field:
// Go's encoding/json matches keys case-insensitively and the last
// duplicate wins.
func lastMember(ms []member, field string) (member, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.EqualFold(ms[i].key, field) {
			return ms[i], true
		}
	}
	return member{}, false
}

// lastExact is lastMember for map keys, which encoding/json matches exactly.
func lastExact(ms []member, key string) (member, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == key {
			return ms[i], true
		}
	}
	return member{}, false
}
