package policy

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rro-runc/rro-runc/internal/tomlstr"
)

// The wrapper's file has five flat keys, and rro-runc starts on every
// runtime call: a general TOML library would load the local time zone at
// init on every state and kill (BurntSushi/toml does). This is the subset
// the file needs, strictly: anything outside it is an error naming the
// line, never a guess.
//
//	key = "basic string" | 'literal string' | true | false | [ strings ]
//
// with comments, blank lines, and arrays that span lines. Tables, numbers,
// dates, inline tables, dotted and quoted keys are rejected.

// value is one parsed right-hand side.
type value struct {
	line int
	str  *string
	b    *bool
	list []string
	kind string // "string", "boolean" or "array"
}

// parseTOML returns the keys of a flat TOML document.
func parseTOML(src string) (map[string]value, error) {
	if err := checkText(src); err != nil {
		return nil, err
	}
	p := &tomlParser{src: src, line: 1}
	out := map[string]value{}
	for {
		p.skipBlank()
		if p.done() {
			return out, nil
		}
		start := p.line
		key := p.key()
		if key == "" {
			if p.peek() == '[' {
				return nil, p.errorf("tables are not used in this file (only flat keys)")
			}
			return nil, p.errorf("expected a key")
		}
		p.skipSpace()
		if p.peek() != '=' {
			return nil, p.errorf("expected = after key %q", key)
		}
		p.pos++
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		v.line = start
		p.skipSpace()
		p.skipComment()
		if !p.done() && p.peek() != '\n' {
			return nil, p.errorf("unexpected text after the value of %q", key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: key %q is set twice", start, key)
		}
		out[key] = v
	}
}

// checkText rejects what TOML forbids anywhere: invalid UTF-8 and control
// characters other than tab and line ends.
func checkText(src string) error {
	if !utf8.ValidString(src) {
		return fmt.Errorf("not valid UTF-8")
	}
	line := 1
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '\n':
			line++
		case c == '\r' && i+1 < len(src) && src[i+1] == '\n', c == '\t':
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("line %d: control character %#x", line, c)
		}
	}
	return nil
}

type tomlParser struct {
	src  string
	pos  int
	line int
}

func (p *tomlParser) done() bool { return p.pos >= len(p.src) }

func (p *tomlParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.src[p.pos]
}

func (p *tomlParser) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{p.line}, args...)...)
}

func (p *tomlParser) skipSpace() {
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t' || p.peek() == '\r') {
		p.pos++
	}
}

func (p *tomlParser) skipComment() {
	if p.peek() == '#' {
		for !p.done() && p.peek() != '\n' {
			p.pos++
		}
	}
}

// skipBlank skips spaces, comments and newlines.
func (p *tomlParser) skipBlank() {
	for {
		p.skipSpace()
		p.skipComment()
		if p.peek() != '\n' {
			return
		}
		p.pos++
		p.line++
	}
}

func (p *tomlParser) key() string {
	start := p.pos
	for !p.done() {
		c := p.peek()
		if c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return p.src[start:p.pos]
}

func (p *tomlParser) value() (value, error) {
	switch c := p.peek(); {
	case c == '"' || c == '\'':
		s, err := p.str()
		return value{str: &s, kind: "string"}, err
	case strings.HasPrefix(p.src[p.pos:], "true"):
		p.pos += 4
		t := true
		return value{b: &t, kind: "boolean"}, nil
	case strings.HasPrefix(p.src[p.pos:], "false"):
		p.pos += 5
		f := false
		return value{b: &f, kind: "boolean"}, nil
	case c == '[':
		p.pos++
		list := []string{}
		for {
			p.skipBlank()
			if p.peek() == ']' {
				p.pos++
				return value{list: list, kind: "array"}, nil
			}
			if c := p.peek(); c != '"' && c != '\'' {
				return value{}, p.errorf("arrays here hold strings only")
			}
			s, err := p.str()
			if err != nil {
				return value{}, err
			}
			list = append(list, s)
			p.skipBlank()
			switch p.peek() {
			case ',':
				p.pos++
			case ']':
			default:
				return value{}, p.errorf("expected , or ] in array")
			}
		}
	case c == 0 || c == '\n':
		return value{}, p.errorf("missing value")
	}
	return value{}, p.errorf("unsupported value (use a string, true/false, or an array of strings)")
}

// str reads one single-line string value. Finding its end is the only
// scanning done here; decoding (escapes, forbidden characters) is
// tomlstr's, shared with rroctl configure, so the file means to rro-runc
// exactly what it means to TOML.
func (p *tomlParser) str() (string, error) {
	quote := p.peek()
	if strings.HasPrefix(p.src[p.pos:], string([]byte{quote, quote, quote})) {
		return "", p.errorf("multi-line strings are not used in this file")
	}
	end := p.pos + 1
	for ; end < len(p.src); end++ {
		c := p.src[end]
		if c == '\n' {
			break
		}
		if c == '\\' && quote == '"' && end+1 < len(p.src) && p.src[end+1] != '\n' {
			end++
			continue
		}
		if c == quote {
			lit := p.src[p.pos : end+1]
			p.pos = end + 1
			s, err := tomlstr.Unquote(lit)
			if err != nil {
				return "", p.errorf("string %s: %v", lit, err)
			}
			return s, nil
		}
	}
	return "", p.errorf("unterminated string")
}
