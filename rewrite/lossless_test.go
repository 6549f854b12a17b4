package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// configFiles lists the realistic configs: hand-made ones in
// testdata/configs and, once captured, real clients' in testdata/clients.
func configFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"../testdata/configs", "../testdata/clients"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no configs in ../testdata/configs or ../testdata/clients")
	}
	return files
}

// TestLossless rewrites every realistic config under several policies and
// checks that the output differs from the input only by the options and
// annotation inserted, both as bytes and as parsed JSON.
func TestLossless(t *testing.T) {
	optsList := []Options{
		{Policy: IfPossible, Exclude: DefaultExclude},
		{Policy: Enabled, Exclude: DefaultExclude, Propagation: Lenient},
		{Policy: Enabled, Exclude: DefaultExclude, Propagation: Strict},
		{Policy: Enabled},
	}
	for _, file := range configFiles(t) {
		in, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range optsList {
			name := filepath.Base(filepath.Dir(file)) + "/" + filepath.Base(file) + "/" + opts.Policy.String() + "-" + opts.Propagation.String()
			if opts.Exclude == nil {
				name += "-noexclude"
			}
			t.Run(name, func(t *testing.T) {
				orig := bytes.Clone(in)
				p := mustAnalyze(t, in, opts)
				res, err := p.Apply(supported)
				if !bytes.Equal(in, orig) {
					t.Fatal("the input slice was modified")
				}
				if errors.Is(err, ErrPropagation) {
					// runc-spec.json has an rshared mount on purpose.
					if !strings.Contains(err.Error(), "/shared (mounts[") {
						t.Fatalf("refusal does not name /shared: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Applied) == 0 {
					t.Fatal("nothing rewritten: every realistic config has a read-only volume")
				}
				checkOutput(t, in, opts, res)
				checkOnlyInsertions(t, in, res)
				checkParsedEqual(t, in, res)
			})
		}
	}
}

// TestRuncSpecDecisions pins what happens to each mount of the richest
// config, so that a change in the rules shows up as a diff here.
func TestRuncSpecDecisions(t *testing.T) {
	in, err := os.ReadFile("../testdata/configs/runc-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	res := rewrite(t, in, Options{Policy: IfPossible, Exclude: DefaultExclude}, supported)
	want := []string{"/ctr", "/cri", "/docker", "/podman", "/shared", "/caf\u00e9\t"}
	if !reflect.DeepEqual(res.Applied, want) {
		t.Fatalf("Applied = %q, want %q", res.Applied, want)
	}
	reasons := map[string]string{
		"/rw": "read-write", "/plain-bind": "non-recursive", "/dev/host-shm": "excluded by /dev",
		"/done": "already rro", "/proc": "not a bind",
	}
	for _, d := range res.Mounts {
		if r, ok := reasons[d.Destination]; ok && (d.Action != Unchanged || !strings.Contains(d.Reason, r)) {
			t.Errorf("%s: %v %q, want unchanged, %q", d.Destination, d.Action, d.Reason, r)
		}
	}
}

// checkOnlyInsertions walks input and output together: wherever they
// differ, the output must hold one of the texts rro-runc inserts, and the
// input must continue unchanged after it. The two replacements rro-runc
// makes are allowed too: a stale applied value, and annotations: null.
func checkOnlyInsertions(t testing.TB, in []byte, res *Result) {
	t.Helper()
	out := res.Config
	stale := bytes.Contains(in, []byte(AnnotationApplied))
	if stale {
		in, out = blankApplied(in), blankApplied(out)
	}
	i, j, inserted := 0, 0, 0
	for i < len(in) || j < len(out) {
		if i < len(in) && j < len(out) && in[i] == out[j] {
			i, j = i+1, j+1
			continue
		}
		if bytes.HasPrefix(in[i:], []byte("null")) && bytes.HasPrefix(out[j:], []byte(`{"`+AnnotationApplied+`":`)) {
			i, j = i+4, valueEnd(out, j)
			inserted++
			continue
		}
		n := insertionAt(out[j:])
		if n == 0 {
			t.Fatalf("output differs from input at input byte %d, output byte %d:\nin:  %q\nout: %q",
				i, j, context(in, i), context(out, j))
		}
		j += n
		inserted++
	}
	if want := len(res.Applied) + 1; inserted != want && !(stale && inserted == want-1) {
		t.Fatalf("%d insertions, want %d (one per rewritten mount and the annotation)", inserted, want)
	}
}

// blankApplied empties every string value whose key is the applied
// annotation, so that replacing a stale value is not seen as a change.
func blankApplied(b []byte) []byte {
	key := []byte(`"` + AnnotationApplied + `"`)
	var out []byte
	for {
		k := bytes.Index(b, key)
		if k < 0 {
			return append(out, b...)
		}
		i := skipSpace(b, k+len(key))
		if i >= len(b) || b[i] != ':' {
			out, b = append(out, b[:k+len(key)]...), b[k+len(key):]
			continue
		}
		i = skipSpace(b, i+1)
		if i >= len(b) || b[i] != '"' {
			out, b = append(out, b[:i]...), b[i:]
			continue
		}
		out = append(append(out, b[:i]...), `""`...)
		b = b[stringEnd(b, i):]
	}
}

func context(b []byte, i int) []byte {
	return b[max(0, i-40):min(len(b), i+40)]
}

// insertionAt returns the length of the inserted text that b starts with,
// or 0.
func insertionAt(b []byte) int {
	for _, s := range []string{`,"rro","rprivate"`, `,"rro"`} {
		if bytes.HasPrefix(b, []byte(s)) {
			return len(s)
		}
	}
	for _, s := range []string{`,"annotations":{"` + AnnotationApplied + `":`, `,"` + AnnotationApplied + `":`, `"` + AnnotationApplied + `":`} {
		if bytes.HasPrefix(b, []byte(s)) {
			n := stringEnd(b, len(s))
			if strings.HasPrefix(s, `,"annotations"`) {
				n++ // the closing brace
			}
			return n
		}
	}
	return 0
}

// checkParsedEqual decodes input and output and checks that they are the
// same document once the decided options and the annotation are applied
// to the input's.
func checkParsedEqual(t testing.TB, in []byte, res *Result) {
	t.Helper()
	want, got := decodeAny(t, in), decodeAny(t, res.Config)
	mounts := want["mounts"].([]any)
	for _, d := range res.Mounts {
		if d.Action != Rewritten {
			continue
		}
		opts := make([]any, len(d.After))
		for i, o := range d.After {
			opts[i] = o
		}
		mounts[d.Index].(map[string]any)["options"] = opts
	}
	ann, _ := want["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		want["annotations"] = ann
	}
	ann[AnnotationApplied] = strings.Join(res.Applied, ",")
	if !reflect.DeepEqual(want, got) {
		w, _ := json.MarshalIndent(want, "", " ")
		g, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("parsed output differs from parsed input beyond the rewrite:\nwant %s\ngot  %s", w, g)
	}
}

func decodeAny(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // 18446744073709551615 must compare as written
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
