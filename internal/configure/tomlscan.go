package configure

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The TOML files are edited as text so that the user's comments, layout
// and quoting survive. tomlScan finds where every table header and
// key/value pair is; it is only ever run on text BurntSushi/toml has
// already accepted, so it needs to be exact about where things start and
// end, not a validator. Anything it does not understand is an error, and
// the caller refuses the file rather than guess.

type tomlHeader struct {
	path       []string
	array      bool   // [[array of tables]]
	start, end int    // the whole line: indentation to just past its newline
	indent     string // what precedes '['
}

type tomlKV struct {
	header           int      // index into tomlDoc.headers; -1 for the root table
	key              []string // the (possibly dotted) key as written, decoded
	start, end       int      // the whole line(s): indentation to just past the newline
	valStart, valEnd int
	indent           string
}

type tomlDoc struct {
	src     []byte
	headers []tomlHeader
	kvs     []tomlKV
}

// table is the table a key/value pair lives in, or nil for the root.
func (d *tomlDoc) table(kv *tomlKV) []string {
	if kv.header < 0 {
		return nil
	}
	return d.headers[kv.header].path
}

// fullPath is the absolute path of a key/value pair's key.
func (d *tomlDoc) fullPath(kv *tomlKV) []string {
	t := d.table(kv)
	p := make([]string, 0, len(t)+len(kv.key))
	return append(append(p, t...), kv.key...)
}

type tomlScanner struct {
	src []byte
	pos int
}

type tomlSpan struct{ start, end int }

func scanTOML(src []byte) (*tomlDoc, error) {
	s := &tomlScanner{src: src}
	d := &tomlDoc{src: src}
	cur := -1
	for s.pos < len(src) {
		lineStart := s.pos
		s.skipBlank()
		indent := string(src[lineStart:s.pos])
		if s.pos >= len(src) {
			break
		}
		switch c := src[s.pos]; c {
		case '\n':
			s.pos++
			continue
		case '\r':
			s.pos++
			continue
		case '#':
			s.skipComment()
			continue
		case '[':
			h := tomlHeader{start: lineStart, indent: indent}
			s.pos++
			if s.peek() == '[' {
				h.array = true
				s.pos++
			}
			path, err := s.key()
			if err != nil {
				return nil, err
			}
			h.path = path
			closing := "]"
			if h.array {
				closing = "]]"
			}
			if !s.consume(closing) {
				return nil, s.errorf("table header does not end with %q", closing)
			}
			if err := s.endLine(); err != nil {
				return nil, err
			}
			h.end = s.pos
			d.headers = append(d.headers, h)
			cur = len(d.headers) - 1
		default:
			kv := tomlKV{header: cur, start: lineStart, indent: indent}
			key, err := s.key()
			if err != nil {
				return nil, err
			}
			kv.key = key
			s.skipBlank()
			if !s.consume("=") {
				return nil, s.errorf("expected '=' after key %q", strings.Join(key, "."))
			}
			s.skipBlank()
			kv.valStart = s.pos
			if err := s.value(nil); err != nil {
				return nil, err
			}
			kv.valEnd = s.pos
			if err := s.endLine(); err != nil {
				return nil, err
			}
			kv.end = s.pos
			d.kvs = append(d.kvs, kv)
		}
	}
	return d, nil
}

func (s *tomlScanner) errorf(format string, args ...any) error {
	line := 1 + strings.Count(string(s.src[:min(s.pos, len(s.src))]), "\n")
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

func (s *tomlScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func (s *tomlScanner) consume(lit string) bool {
	if strings.HasPrefix(string(s.src[s.pos:]), lit) {
		s.pos += len(lit)
		return true
	}
	return false
}

func (s *tomlScanner) skipBlank() {
	for s.pos < len(s.src) && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t') {
		s.pos++
	}
}

// skipComment skips a comment and its newline.
func (s *tomlScanner) skipComment() {
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		s.pos++
	}
	if s.pos < len(s.src) {
		s.pos++
	}
}

// skipSpace skips whitespace, newlines and comments, as allowed inside
// arrays.
func (s *tomlScanner) skipSpace() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		case '#':
			s.skipComment()
		default:
			return
		}
	}
}

// endLine accepts what may follow a header or value on its line: blanks,
// a comment, then a newline or the end of the text.
func (s *tomlScanner) endLine() error {
	s.skipBlank()
	switch s.peek() {
	case 0:
		if s.pos >= len(s.src) {
			return nil
		}
	case '#':
		s.skipComment()
		return nil
	case '\r':
		if s.pos+1 < len(s.src) && s.src[s.pos+1] == '\n' {
			s.pos += 2
			return nil
		}
	case '\n':
		s.pos++
		return nil
	}
	return s.errorf("unexpected %q after a value", s.peek())
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// key reads a possibly dotted key and returns its decoded parts.
func (s *tomlScanner) key() ([]string, error) {
	var parts []string
	for {
		s.skipBlank()
		var part string
		switch s.peek() {
		case '"':
			str, err := s.basicString()
			if err != nil {
				return nil, err
			}
			part = str
		case '\'':
			str, err := s.literalString()
			if err != nil {
				return nil, err
			}
			part = str
		default:
			start := s.pos
			for s.pos < len(s.src) && isBare(s.src[s.pos]) {
				s.pos++
			}
			if s.pos == start {
				return nil, s.errorf("expected a key")
			}
			part = string(s.src[start:s.pos])
		}
		parts = append(parts, part)
		s.skipBlank()
		if s.peek() != '.' {
			return parts, nil
		}
		s.pos++
	}
}

// basicString reads a one-line "basic string" and decodes it.
func (s *tomlScanner) basicString() (string, error) {
	start := s.pos
	s.pos++ // opening quote
	var b strings.Builder
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '"':
			s.pos++
			return b.String(), nil
		case c == '\n':
			return "", s.errorf("unterminated string")
		case c == '\\':
			if s.pos+1 >= len(s.src) {
				return "", s.errorf("unterminated string")
			}
			e := s.src[s.pos+1]
			s.pos += 2
			switch e {
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case 'e':
				b.WriteByte(0x1b)
			case '"', '\\':
				b.WriteByte(e)
			case 'u', 'U', 'x':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if s.pos+n > len(s.src) {
					return "", s.errorf("short escape in string")
				}
				r, err := strconv.ParseUint(string(s.src[s.pos:s.pos+n]), 16, 32)
				if err != nil {
					return "", s.errorf("bad escape in string")
				}
				s.pos += n
				b.WriteRune(rune(r))
			default:
				return "", s.errorf("bad escape \\%c in string", e)
			}
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
	s.pos = start
	return "", s.errorf("unterminated string")
}

func (s *tomlScanner) literalString() (string, error) {
	s.pos++
	start := s.pos
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case '\'':
			str := string(s.src[start:s.pos])
			s.pos++
			return str, nil
		case '\n':
			return "", s.errorf("unterminated string")
		}
		s.pos++
	}
	return "", s.errorf("unterminated string")
}

// multiline skips a """ or ”' string; up to two extra quotes before the
// closing delimiter belong to the string.
func (s *tomlScanner) multiline(q byte) error {
	delim := string([]byte{q, q, q})
	s.pos += 3
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		if c == '\\' && q == '"' {
			s.pos += 2
			continue
		}
		if c == q && strings.HasPrefix(string(s.src[s.pos:]), delim) {
			s.pos += 3
			for i := 0; i < 2 && s.peek() == q; i++ {
				s.pos++
			}
			return nil
		}
		s.pos++
	}
	return s.errorf("unterminated multi-line string")
}

// value skips one value. For an array it appends the span of each element
// to elems, when elems is not nil.
func (s *tomlScanner) value(elems *[]tomlSpan) error {
	switch s.peek() {
	case '"':
		if s.consume(`"""`) {
			s.pos -= 3
			return s.multiline('"')
		}
		_, err := s.basicString()
		return err
	case '\'':
		if s.consume(`'''`) {
			s.pos -= 3
			return s.multiline('\'')
		}
		_, err := s.literalString()
		return err
	case '[':
		s.pos++
		for {
			s.skipSpace()
			if s.peek() == ']' {
				s.pos++
				return nil
			}
			start := s.pos
			if err := s.value(nil); err != nil {
				return err
			}
			if elems != nil {
				*elems = append(*elems, tomlSpan{start, s.pos})
			}
			s.skipSpace()
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return nil
			default:
				return s.errorf("expected ',' or ']' in array")
			}
		}
	case '{':
		s.pos++
		for {
			s.skipSpace()
			if s.peek() == '}' {
				s.pos++
				return nil
			}
			if _, err := s.key(); err != nil {
				return err
			}
			s.skipBlank()
			if !s.consume("=") {
				return s.errorf("expected '=' in inline table")
			}
			s.skipBlank()
			if err := s.value(nil); err != nil {
				return err
			}
			s.skipSpace()
			switch s.peek() {
			case ',':
				s.pos++
			case '}':
				s.pos++
				return nil
			default:
				return s.errorf("expected ',' or '}' in inline table")
			}
		}
	}
	start := s.pos
	s.scalar()
	if s.pos == start {
		return s.errorf("expected a value")
	}
	// A local date-time may have a space between date and time.
	if s.pos-start == 10 && s.src[start+4] == '-' && s.peek() == ' ' &&
		s.pos+1 < len(s.src) && s.src[s.pos+1] >= '0' && s.src[s.pos+1] <= '9' {
		s.pos++
		s.scalar()
	}
	return nil
}

func (s *tomlScanner) scalar() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\r', '\n', '#', ',', ']', '}':
			return
		}
		s.pos++
	}
}

// arrayElems returns the spans of the elements of the array at pos.
func arrayElems(src []byte, pos int) ([]tomlSpan, error) {
	s := &tomlScanner{src: src, pos: pos}
	if s.peek() != '[' {
		return nil, s.errorf("not an array")
	}
	elems := []tomlSpan{}
	if err := s.value(&elems); err != nil {
		return nil, err
	}
	return elems, nil
}

// tomlString renders s as a TOML basic string. TOML has no escape for
// bytes that are not UTF-8, so those are refused by the callers first.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func tomlKey(k string) string {
	if k == "" || !utf8.ValidString(k) {
		return tomlString(k)
	}
	for i := 0; i < len(k); i++ {
		if !isBare(k[i]) {
			return tomlString(k)
		}
	}
	return k
}

func tomlKeyPath(path []string) string {
	q := make([]string, len(path))
	for i, p := range path {
		q[i] = tomlKey(p)
	}
	return strings.Join(q, ".")
}
