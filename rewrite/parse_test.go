package rewrite

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestValid checks valid against json.Valid on the grammar's corners;
// FuzzRewrite compares them on everything else.
func TestValid(t *testing.T) {
	inputs := []string{
		``, ` `, `{}`, `[]`, ` { } `, `{,}`, `[,]`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`,
		`[1 2]`, `[[]]`, `[[[]]`, `[]]`, `{}}`, `{"a":[}]}`, `[{]}`,
		`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1e5`, `1E-5`, `-1.5e+10`, `18446744073709551615`, `1e999`, `+1`, `0x1`,
		`true`, `tru`, `truex`, `false`, `null`, `nul`, `True`, `NaN`,
		`""`, `"`, `"\"`, `"\\"`, `"\u00e9"`, `"\u00g9"`, `"\u12"`, `"\x"`, `"\/"`, "\"a\tb\"", "\"a\x7fb\"", "\"\xff\xfe\"",
		"\"\x00\"", "\"\x1f\"", "\xef\xbb\xbf{}", `{} {}`, `{}x`, "{}\n\r\t ", "\v{}",
		`{"a":{"b":[1,{"c":null}]},"d":"e"}`,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
		strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
	}
	for _, in := range inputs {
		name := in
		if len(name) > 30 {
			name = name[:30]
		}
		t.Run(name, func(t *testing.T) {
			if got, want := valid([]byte(in)), json.Valid([]byte(in)); got != want {
				t.Fatalf("valid(%q) = %v, json.Valid = %v", name, got, want)
			}
		})
	}
}
