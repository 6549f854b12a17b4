// Package jsonedit edits JSON text without re-encoding it: the one JSON
// string quoter and the one splice of the module, shared by the config.json
// rewrite and rroctl configure's daemon.json and TOML editors.
//
// Guarantees: Quote writes what encoding/json writes for a string, except
// that <, > and & stay as they are (a destination like "/a<b" keeps its
// spelling); Splice copies every byte outside the edited ranges unchanged.
package jsonedit

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Quote returns s as a JSON string literal, as encoding/json with HTML
// escaping off writes it: invalid UTF-8 becomes U+FFFD, control
// characters, U+2028 and U+2029 are escaped.
func Quote(s string) []byte {
	// The usual string needs no escaping and is quoted directly: the
	// applied annotation of 10,000 mounts is long, and going through an
	// Encoder copies it twice more.
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 || r == '"' || r == '\\' || r == '\u2028' || r == '\u2029'
	}) {
		return append(append(append(make([]byte, 0, len(s)+2), '"'), s...), '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Edit replaces src[Start:End] with Text; Start == End inserts.
type Edit struct {
	Start, End int
	Text       []byte
}

// Insert is the Edit that inserts text at at.
func Insert(at int, text []byte) Edit { return Edit{Start: at, End: at, Text: text} }

// Splice returns src with edits applied. The edits must be sorted by
// position and must not overlap; src is not modified.
func Splice(src []byte, edits ...Edit) []byte {
	n := len(src)
	for _, e := range edits {
		n += len(e.Text) - (e.End - e.Start)
	}
	out := make([]byte, 0, n)
	pos := 0
	for _, e := range edits {
		out = append(out, src[pos:e.Start]...)
		out = append(out, e.Text...)
		pos = e.End
	}
	return append(out, src[pos:]...)
}
