package tomlstr

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/BurntSushi/toml" // the reference parser, in tests only
)

// full decodes k = LIT with a complete TOML parser.
func full(lit string) (string, bool) {
	var m map[string]any
	if _, err := toml.Decode("k = "+lit+"\n", &m); err != nil {
		return "", false
	}
	s, ok := m["k"].(string)
	return s, ok
}

// cases are string literals around every rule: each escape TOML 1.0 has,
// those it does not (Go's \a \v \x \0 \NNN, TOML 1.1's \e \xHH), \u and
// \U at and beyond their limits, control characters raw and escaped, and
// quotes.
var cases = []string{
	`""`, `"plain"`, `"a\tb"`, "\"a\tb\"", `"\b\t\n\f\r\"\\"`, `"\u00e9\u00E9"`, `"\U0001F600"`,
	`"\u0000"`, `"\u001f"`, `"\u007F"`, `"\uD800"`, `"\uDFFF"`, `"\uE000"`, `"\U0010FFFF"`,
	`"\U00110000"`, `"\UFFFFFFFF"`, `"\u12"`, `"\u12G4"`, `"\U1234567"`, `"\u"`, `"\`, `"\\\"`,
	`"\a"`, `"\v"`, `"\e"`, `"\x41"`, `"\0"`, `"\101"`, `"\'"`, `"\?"`, `"\ "`, `"\/"`,
	`"a"b"`, "\"\x01\"", "\"\x7f\"", "\"\u0080\"", "\"\xff\"", "\"é\"", "\"a\nb\"", "\"a\rb\"",
	`''`, `'plain'`, `'C:\path\n'`, "'a\tb'", "'a\x01'", `'it''s'`, `'"'`, "'\xff'",
	`"""x"""`, `'''x'''`, `"x'`, `x`, `"`,
}

// TestUnquoteAgreesWithTOML: whatever Unquote accepts, a full TOML parser
// accepts and decodes to the same string; whatever TOML 1.0 rejects,
// Unquote rejects. (BurntSushi/toml also takes TOML 1.1's \e and \xHH;
// TOML 1.0, which administrators' tools read, does not, so neither does
// Unquote: the one direction where it is stricter.)
func TestUnquoteAgreesWithTOML(t *testing.T) {
	toml11 := map[string]bool{`"\e"`: true, `"\x41"`: true}
	for _, lit := range cases {
		got, err := Unquote(lit)
		want, ok := full(lit)
		switch {
		case err == nil && !ok:
			t.Errorf("Unquote(%q) = %q, a TOML parser rejects it", lit, got)
		case err == nil && got != want:
			t.Errorf("Unquote(%q) = %q, TOML reads %q", lit, got, want)
		case err != nil && ok && !toml11[lit] && !strings.HasPrefix(lit, `"""`) && !strings.HasPrefix(lit, `'''`):
			t.Errorf("Unquote(%q): %v; TOML reads %q", lit, err, want)
		}
	}
}

func TestUnquoteRejectsGoOnlyEscapes(t *testing.T) {
	for _, lit := range []string{`"\a"`, `"\v"`, `"\101"`, `"\x41"`, `"\e"`, `"\'"`, `"\0"`} {
		if _, err := Unquote(lit); err == nil || !strings.Contains(err.Error(), "invalid escape") {
			t.Errorf("Unquote(%s) = %v, want an invalid-escape error", lit, err)
		}
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `a"b\c`, "tab\there", "\x00\x01\x1f\x7f", "é😀", "\b\f\n\r", "'"} {
		q := Quote(s)
		if got, err := Unquote(q); err != nil || got != s {
			t.Errorf("Unquote(Quote(%q)) = %q, %v", s, got, err)
		}
		if got, ok := full(q); !ok || got != s {
			t.Errorf("TOML reads Quote(%q) = %s as %q (ok %v)", s, q, got, ok)
		}
	}
}

func FuzzUnquote(f *testing.F) {
	for _, c := range cases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		if strings.ContainsAny(lit, "\n\r") {
			return // single-line literals only; a newline ends the TOML value
		}
		got, err := Unquote(lit)
		if err != nil {
			return
		}
		want, ok := full(lit)
		if !ok || got != want {
			t.Fatalf("Unquote(%q) = %q; TOML: %q, ok %v", lit, got, want, ok)
		}
		if utf8.ValidString(got) {
			if back, err := Unquote(Quote(got)); err != nil || back != got {
				t.Fatalf("Quote(%q) does not round-trip: %q, %v", got, back, err)
			}
		}
	})
}
