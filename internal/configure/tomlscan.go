package configure

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/rro-runc/rro-runc/internal/tomlstr"
)

// The TOML files are edited as text so that the user's comments, layout
// and quoting survive. scanTOML finds where every table header and
// key/value pair is with go-toml's byte-range parser (go-toml/v2 is the
// parser containerd 2.x reads its configuration with); the meaning of
// the text is read and checked with BurntSushi/toml, the parser Podman
// reads containers.conf with. An edit is only kept when both agree on
// it, so a file the two read differently is refused, never guessed at.

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
	// elems are the spans of an array value's elements, when every
	// element is a scalar (nil otherwise).
	elems []tomlSpan
}

type tomlDoc struct {
	headers []tomlHeader
	kvs     []tomlKV
}

type tomlSpan struct{ start, end int }

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

func scanTOML(src []byte) (*tomlDoc, error) {
	var p unstable.Parser
	p.Reset(src)
	d := &tomlDoc{}
	cur := -1
	for p.NextExpression() {
		e := p.Expression()
		var key []string
		keyStart, keyEnd := -1, 0
		for it := e.Key(); it.Next(); {
			k := it.Node()
			key = append(key, string(k.Data))
			if keyStart < 0 {
				keyStart = int(k.Raw.Offset)
			}
			keyEnd = int(k.Raw.Offset + k.Raw.Length)
		}
		// A header or pair starts its line; only blanks (and a header's
		// brackets) come before its key.
		start := bytes.LastIndexByte(src[:keyStart], '\n') + 1
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			bracket := start + bytes.IndexByte(src[start:keyStart], '[')
			d.headers = append(d.headers, tomlHeader{
				path: key, array: e.Kind == unstable.ArrayTable,
				start: start, end: lineEnd(src, keyEnd), indent: string(src[start:bracket]),
			})
			cur = len(d.headers) - 1
		case unstable.KeyValue:
			kv := tomlKV{header: cur, key: key, start: start, indent: string(src[start:keyStart])}
			kv.valStart = keyEnd + bytes.IndexByte(src[keyEnd:], '=') + 1
			for src[kv.valStart] == ' ' || src[kv.valStart] == '\t' {
				kv.valStart++
			}
			kv.valEnd = int(e.Raw.Offset + e.Raw.Length)
			kv.end = lineEnd(src, kv.valEnd)
			if v := e.Value(); v.Kind == unstable.Array {
				kv.elems = []tomlSpan{}
				for it := v.Children(); it.Next(); {
					c := it.Node()
					if c.Kind == unstable.Array || c.Kind == unstable.InlineTable {
						kv.elems = nil
						break
					}
					kv.elems = append(kv.elems, tomlSpan{int(c.Raw.Offset), int(c.Raw.Offset + c.Raw.Length)})
				}
			}
			d.kvs = append(d.kvs, kv)
		default:
			return nil, fmt.Errorf("unexpected %s in the text", e.Kind)
		}
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	return d, nil
}

// lineEnd is the end of the line holding pos, just past its newline (or
// the end of the text). In text that parsed, what follows a value or a
// header on its line is at most a comment, which holds no newline.
func lineEnd(src []byte, pos int) int {
	if i := bytes.IndexByte(src[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(src)
}

// skipTOMLSpace skips whitespace, newlines and comments, as arrays allow
// between their elements.
func skipTOMLSpace(src []byte, pos int) int {
	for pos < len(src) {
		switch src[pos] {
		case ' ', '\t', '\r', '\n':
			pos++
		case '#':
			pos = lineEnd(src, pos)
		default:
			return pos
		}
	}
	return pos
}

// tomlStrings renders ss as an inline TOML array of basic strings
// (tomlstr.Quote, the quoter rro-runc's own configuration parser pairs
// with). TOML cannot carry bytes that are not UTF-8: callers refuse those
// first.
func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlstr.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func tomlKey(k string) string {
	if k == "" || !utf8.ValidString(k) {
		return tomlstr.Quote(k)
	}
	for i := 0; i < len(k); i++ {
		if !isBare(k[i]) {
			return tomlstr.Quote(k)
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
