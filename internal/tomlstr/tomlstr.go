// Package tomlstr decodes and encodes TOML 1.0 single-line strings, the one
// implementation rro-runc's configuration parser and rroctl configure's
// editors share, so that a value means to both exactly what it means to
// any TOML tool.
//
// Guarantees:
//   - Unquote accepts exactly TOML 1.0's basic strings ("...") and literal
//     strings ('...') on one line: the escapes \b \t \n \f \r \" \\ \uXXXX
//     and \UXXXXXXXX (a Unicode scalar value: no surrogate, at most
//     U+10FFFF) and no other (no \a, \v, \e, \xHH, \0 or octal, which Go's
//     strconv.Unquote would take), no control character but tab, valid
//     UTF-8 only. Anything else is an error saying what and where.
//   - Quote produces a basic string that Unquote, and every TOML 1.0
//     parser, decodes to its input.
//   - It imports nothing that runs at start-up (it is on rro-runc's path).
package tomlstr

import (
	"strings"
	"unicode/utf8"
)

// Error says what is wrong with a string and at which byte of the literal.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return e.Msg + " at byte " + itoa(e.Offset) }

// Unquote decodes a single-line TOML string literal, quotes included.
func Unquote(lit string) (string, error) {
	if len(lit) < 2 || lit[0] != lit[len(lit)-1] || (lit[0] != '"' && lit[0] != '\'') {
		return "", &Error{0, "not a quoted string"}
	}
	if strings.HasPrefix(lit, `"""`) || strings.HasPrefix(lit, `'''`) {
		return "", &Error{0, "multi-line strings are not supported here"}
	}
	body := lit[1 : len(lit)-1]
	if lit[0] == '\'' {
		if i := strings.IndexByte(body, '\''); i >= 0 {
			return "", &Error{1 + i, "a literal string cannot contain '"}
		}
		if err := checkChars(body, 1); err != nil {
			return "", err
		}
		return body, nil
	}
	return unescape(body)
}

// checkChars rejects what TOML forbids in every string: invalid UTF-8 and
// control characters other than tab.
func checkChars(s string, base int) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return &Error{base + i, "control character " + hex(rune(c), 2) + " must be escaped"}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return &Error{base + i, "invalid UTF-8"}
		}
		i += n
	}
	return nil
}

// unescape decodes the body of a basic string.
func unescape(body string) (string, error) {
	if err := checkChars(body, 1); err != nil {
		return "", err
	}
	if strings.IndexByte(body, '\\') < 0 {
		if i := strings.IndexByte(body, '"'); i >= 0 {
			return "", &Error{1 + i, `unescaped "`}
		}
		return body, nil // the common case: nothing to decode, nothing allocated
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch c {
		case '"':
			return "", &Error{1 + i, `unescaped "`}
		case '\\':
		default:
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(body) {
			return "", &Error{1 + i, `lone \ at the end`}
		}
		i++
		switch e := body[i]; e {
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
		case '"', '\\':
			b.WriteByte(e)
		case 'u', 'U':
			n := 4
			if e == 'U' {
				n = 8
			}
			if i+1+n > len(body) {
				return "", &Error{i, "\\" + string(e) + " needs " + itoa(n) + " hex digits"}
			}
			r, ok := parseHex(body[i+1 : i+1+n])
			if !ok {
				return "", &Error{i, "\\" + string(e) + " needs " + itoa(n) + " hex digits"}
			}
			if r > utf8.MaxRune || r >= 0xD800 && r <= 0xDFFF {
				return "", &Error{i, "\\" + string(e) + " " + hex(r, n) + " is not a Unicode scalar value"}
			}
			b.WriteRune(rune(r))
			i += n
		default:
			return "", &Error{i, "invalid escape \\" + printable(e) + " (TOML knows \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)"}
		}
	}
	return b.String(), nil
}

func parseHex(s string) (uint32, bool) {
	var r uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | uint32(c)
	}
	return r, true
}

// Quote encodes s as a TOML basic string. s must be valid UTF-8 (an
// invalid byte is written as U+FFFD, as TOML cannot carry it).
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				b.WriteString(`\u`)
				b.WriteString(hex(r, 4)[2:])
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func printable(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return hex(rune(c), 2)
}

// hex formats r as 0x followed by at least n upper-case hex digits.
func hex[T rune | uint32](r T, n int) string {
	const digits = "0123456789ABCDEF"
	var buf [10]byte
	i := len(buf)
	for r > 0 || n > 0 {
		i--
		buf[i] = digits[r&0xf]
		r >>= 4
		n--
	}
	return "0x" + string(buf[i:])
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
