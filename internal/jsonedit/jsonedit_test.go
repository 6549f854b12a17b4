package jsonedit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestQuoteIsEncodingJSONWithoutHTMLEscaping(t *testing.T) {
	for _, s := range []string{"", "/vol", "/a<b>&", "/q\"uote", `/back\slash`, "/tab\there", "/nl\n", "\x00\x1f", "/é☃😀", "/\u2028\u2029", "/bad\xffutf8", "/a,/b"} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		if got, want := string(Quote(s)), strings.TrimSuffix(buf.String(), "\n"); got != want {
			t.Errorf("Quote(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestSplice(t *testing.T) {
	src := []byte(`{"a":1,"b":2}`)
	got := Splice(src, Insert(1, []byte(`"z":0,`)), Edit{Start: 5, End: 6, Text: []byte("10")}, Edit{Start: 6, End: 12})
	if string(got) != `{"z":0,"a":10}` || string(src) != `{"a":1,"b":2}` {
		t.Fatalf("Splice = %s (src now %s)", got, src)
	}
	if got := Splice(src); !bytes.Equal(got, src) || &got[0] == &src[0] {
		t.Fatalf("no edits: %s, want a copy", got)
	}
}
