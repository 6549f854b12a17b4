package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestParseTOMLAgreesWithAFullParser: every document the subset parser
// accepts means the same to a complete TOML implementation. (The full
// parser is linked into the tests only, not into rro-runc.)
func TestParseTOMLAgreesWithAFullParser(t *testing.T) {
	docs := []string{
		"",
		"# only a comment\n",
		`policy = "Enabled"`,
		"policy = 'IfPossible' # trailing comment\r\nruntime = \"/usr/bin/crun\"\n",
		"exclude = [\"/dev\", '/proc',\n  \"/sys\", # why\n]\nallow_annotation_opt_out = true\n",
		"exclude = []\nallow_annotation_opt_out = false\npropagation = \"lenient\"",
		`runtime = "/opt/with \"quotes\" and \\ backslash \u00e9"`,
		"  \t policy\t=\t\"Disabled\"  \n\n\n",
	}
	for _, doc := range docs {
		got, err := parseTOML(doc)
		if err != nil {
			t.Errorf("parseTOML(%q): %v", doc, err)
			continue
		}
		var want map[string]any
		if _, err := toml.Decode(doc, &want); err != nil {
			t.Errorf("full parser rejects %q: %v", doc, err)
			continue
		}
		plain := plainValues(got)
		if !reflect.DeepEqual(plain, want) {
			t.Errorf("%q:\n subset %#v\n full   %#v", doc, plain, want)
		}
	}
}

// TestParseTOMLRejects: what the subset does not cover is an error naming
// the line, never a silent misreading.
func TestParseTOMLRejects(t *testing.T) {
	for _, doc := range []string{
		"[table]\n", "policy = 3", "a.b = \"x\"", `"quoted" = "x"`, "policy = \"unterminated\n",
		"policy = \"x\" extra", "exclude = [1, 2]", "exclude = [\"a\" \"b\"]", "policy =", "p = \"\"\"x\"\"\"",
		"x = {a = \"b\"}", "policy = \"a\"\npolicy = \"b\"", "= \"x\"", "exclude = [\"/dev\"",
	} {
		if _, err := parseTOML(doc); err == nil {
			t.Errorf("parseTOML(%q) accepted it", doc)
		}
	}
}

// plainValues is the subset parser's result as a full parser's map.
func plainValues(got map[string]value) map[string]any {
	plain := map[string]any{}
	for k, v := range got {
		switch v.kind {
		case "string":
			plain[k] = *v.str
		case "boolean":
			plain[k] = *v.b
		case "array":
			list := make([]any, len(v.list))
			for i, s := range v.list {
				list[i] = s
			}
			plain[k] = list
		}
	}
	return plain
}

// TestParseTOMLEscapes: the file's strings follow TOML 1.0 exactly. Go's
// strconv.Unquote, used here before, took \a, \v, \x41 and octal \101,
// which TOML tools reject, and read them as bytes: an administrator's
// runtime path could mean one file to rro-runc and another to their tools.
func TestParseTOMLEscapes(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`runtime = "/opt/\u0072unc"`, "/opt/runc"},
		{`runtime = "/opt/\U0001F600"`, "/opt/\U0001F600"},
		{`runtime = "a\tb\\c\"d"`, "a\tb\\c\"d"},
		{`runtime = 'C:\no\escapes'`, `C:\no\escapes`},
	} {
		got, err := parseTOML(tc.doc)
		if err != nil || *got["runtime"].str != tc.want {
			t.Errorf("parseTOML(%s) = %v, %v; want %q", tc.doc, got, err, tc.want)
		}
	}
	for _, doc := range []string{
		`runtime = "\a"`, `runtime = "\v"`, `runtime = "\101"`, `runtime = "\x41"`, `runtime = "\e"`,
		`runtime = "\uD800"`, `runtime = "\U00110000"`, `runtime = "\u12"`, `runtime = "\'"`,
		"exclude = [\"/ok\", \"\\0\"]",
	} {
		_, err := parseTOML(doc)
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseTOML(%s) = %v, want an error naming line 1", doc, err)
		}
	}
}

func FuzzParseTOML(f *testing.F) {
	f.Add("policy = \"Enabled\"\nexclude = ['/dev']\nallow_annotation_opt_out = true\n")
	for _, esc := range []string{`\b`, `\t`, `\n`, `\f`, `\r`, `\"`, `\\`, `\u00e9`, `\U0001F600`,
		`\a`, `\v`, `\e`, `\x41`, `\101`, `\0`, `\uD800`, `\U00110000`, `\u12`, `\'`, `\ `} {
		f.Add("runtime = \"/x" + esc + "y\"\n")
		f.Add("exclude = [\"/a" + esc + "\", '/b" + esc + "']\n")
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := parseTOML(doc)
		if err != nil {
			return
		}
		var want map[string]any
		if _, err := toml.Decode(doc, &want); err != nil {
			t.Fatalf("subset accepts %q (%v), full parser rejects it: %v", doc, got, err)
		}
		if plain := plainValues(got); !reflect.DeepEqual(plain, want) {
			t.Fatalf("%q:\n subset %#v\n full   %#v", doc, plain, want)
		}
	})
}
