package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
	// /dev/host-shm binds the host's /dev/shm, not its /dev: a tmpfs
	// recursion does not break, and a destination decides nothing.
	want := []string{"/ctr", "/cri", "/docker", "/podman", "/shared", "/dev/host-shm", "/caf\u00e9\t"}
	if !reflect.DeepEqual(res.Applied, want) {
		t.Fatalf("Applied = %q, want %q", res.Applied, want)
	}
	reasons := map[string]string{
		"/rw": "read-write", "/plain-bind": "non-recursive",
		"/done": "already rro", "/proc": "not a bind",
	}
	for _, d := range res.Mounts {
		if r, ok := reasons[d.Destination]; ok && (d.Action != Unchanged || !strings.Contains(d.Reason, r)) {
			t.Errorf("%s: %v %q, want unchanged, %q", d.Destination, d.Action, d.Reason, r)
		}
	}
}

// checkOnlyInsertions checks the bytes: outside the annotations objects,
// the output is the input with option texts inserted, one per rewritten
// mount, and nothing else; inside them, every member other than
// rro-runc's own keeps its bytes and order. The only other change allowed
// is one "annotations" member appended at the end.
func checkOnlyInsertions(t testing.TB, in []byte, res *Result) {
	t.Helper()
	out := res.Config
	inTop, outTop := topMembers(in), topMembers(out)
	switch n := len(outTop); {
	case n == len(inTop)+1:
		last := outTop[n-1]
		if !last.is("annotations") || out[last.val.start] != '{' {
			t.Fatalf("member %s appeared", last.key)
		}
		for _, m := range members(out, last.val, nil) {
			if ownedKey(m) < 0 {
				t.Fatalf("the appended annotations hold %s", m.key)
			}
		}
		out = append(slices.Clip(out[:outTop[n-2].val.end]), out[last.val.end:]...)
	case n != len(inTop):
		t.Fatalf("%d top-level members in, %d out", len(inTop), n)
	}
	in, out = withoutOwned(in), withoutOwned(out)
	i, j, inserted := 0, 0, 0
	for i < len(in) || j < len(out) {
		if i < len(in) && j < len(out) && in[i] == out[j] {
			i, j = i+1, j+1
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
	if want := len(res.Applied); inserted != want {
		t.Fatalf("%d insertions, want %d (one per rewritten mount)", inserted, want)
	}
}

func topMembers(b []byte) []member {
	start := skipSpace(b, 0)
	return members(b, span{start, valueEnd(b, start)}, nil)
}

// withoutOwned rewrites every top-level annotations value to the members
// that are not rro-runc's, joined without spaces.
func withoutOwned(b []byte) []byte {
	var out []byte
	pos := 0
	for _, m := range topMembers(b) {
		if !m.is("annotations") {
			continue
		}
		out = append(out, b[pos:m.val.start]...)
		pos = m.val.end
		if b[m.val.start] == 'n' {
			out = append(out, "null"...)
			continue
		}
		out = append(out, '{')
		n := 0
		for _, am := range members(b, m.val, nil) {
			if ownedKey(am) >= 0 {
				continue
			}
			if n > 0 {
				out = append(out, ',')
			}
			out = append(append(append(out, am.key...), ':'), b[am.val.start:am.val.end]...)
			n++
		}
		out = append(out, '}')
	}
	return append(out, b[pos:]...)
}

// context returns the bytes around b[i] for a failure message.
func context(b []byte, i int) []byte {
	return b[max(0, i-40):min(len(b), i+40)]
}

// insertionAt returns the length of the option text that b starts with,
// or 0.
func insertionAt(b []byte) int {
	for _, s := range []string{`,"rro","rprivate"`, `,"rro"`} {
		if bytes.HasPrefix(b, []byte(s)) {
			return len(s)
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
	for k, v := range res.AnnotationValues() {
		if v == "" {
			delete(ann, k)
		} else {
			ann[k] = v
		}
	}
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
