package policy

import (
	"reflect"
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

func FuzzParseTOML(f *testing.F) {
	f.Add("policy = \"Enabled\"\nexclude = ['/dev']\nallow_annotation_opt_out = true\n")
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := parseTOML(doc)
		if err != nil {
			return
		}
		var want map[string]any
		if _, err := toml.Decode(doc, &want); err != nil {
			t.Fatalf("subset accepts %q (%v), full parser rejects it: %v", doc, got, err)
		}
		if len(want) != len(got) {
			t.Fatalf("%q: subset has %d keys, full parser %d", doc, len(got), len(want))
		}
	})
}
