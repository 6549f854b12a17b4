package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzRewrite checks the package's guarantees on arbitrary bytes and
// settings: no panic, only the documented errors, and for every accepted
// config a valid, idempotent, lossless rewrite that sees the mounts runc
// sees.
func FuzzRewrite(f *testing.F) {
	for _, file := range configFiles(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(IfPossible), uint8(7))
		f.Add(b, uint8(Enabled), uint8(4))
	}
	for _, s := range []string{
		`{"mounts":[{"destination":"/v","options":["rbind","ro"]}]}`,
		`{"Mounts":[{"destination":"/v","Options":["ro","rbind","rshared"]}],"annotations":null}`,
		`{"annotations":{"org.rro-runc.policy":"Enabled","org.rro-runc.exclude":"/a,/b"},"mounts":[{"destination":"/a/x","options":["rbind","ro"]}]}`,
		`{"annotations":{"org.rro-runc.applied":"/old"},"mounts":[null,{"destination":"/v","options":["r\u0062ind","ro"]}]}`,
		`{"mounts":[],"mounts":[{"destination":"/dev/shm","destination":null,"options":["rbind","ro","options"]}],"x":[1e999]}`,
		`{"mounts":[{"destination":"/v","options":["rbind","ro",null]}]}`,
		"{\"mounts\":[{\"destination\":\"/\xff\",\"options\":[\"rbind\",\"ro\"]}]}",
	} {
		f.Add([]byte(s), uint8(IfPossible), uint8(6))
	}
	f.Fuzz(func(t *testing.T, data []byte, policy, flags uint8) {
		opts := Options{
			Policy:                Policy(policy % 3),
			Propagation:           Propagation(flags & 1),
			AllowAnnotationOptOut: flags&2 != 0,
		}
		if flags&8 == 0 {
			opts.Exclude = DefaultExclude
		}
		support := Support{Supported: flags&4 != 0, Reason: "fuzz says no"}
		orig := bytes.Clone(data)
		if valid(data) != json.Valid(data) {
			t.Fatalf("valid = %v, json.Valid = %v", valid(data), json.Valid(data))
		}

		p, err := Analyze(data, opts)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrAnnotation) {
				t.Fatalf("Analyze: undocumented error %v", err)
			}
			return
		}
		checkRuncView(t, data, p)
		checkSameDecisions(t, data, opts, support)
		res, err := p.Apply(support)
		if !bytes.Equal(data, orig) {
			t.Fatal("the input was modified")
		}
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Apply: undocumented error %v", err)
			}
			if res.Changed || !bytes.Equal(res.Config, data) {
				t.Fatal("refused, but the config changed")
			}
			return
		}
		checkOutput(t, data, opts, res)
		if !res.Changed {
			return
		}
		checkOnlyInsertions(t, data, res)
		checkOtherMembers(t, data, res.Config)
		checkOtherMounts(t, data, res)
	})
}

// checkOtherMembers checks that every top-level member other than mounts
// and annotations is byte for byte the same.
func checkOtherMembers(t *testing.T, in, out []byte) {
	t.Helper()
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal(in, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	for k, v := range a {
		if strings.EqualFold(k, "mounts") || strings.EqualFold(k, "annotations") {
			continue
		}
		if !bytes.Equal(v, b[k]) {
			t.Fatalf("member %q changed from %s to %s", k, v, b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && k != "annotations" {
			t.Fatalf("member %q appeared", k)
		}
	}
}

// checkOtherMounts checks that mounts not rewritten are byte for byte the
// same, and that rewritten ones differ only in their options.
func checkOtherMounts(t *testing.T, in []byte, res *Result) {
	t.Helper()
	var a, b struct{ Mounts []json.RawMessage }
	if err := json.Unmarshal(in, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(res.Config, &b); err != nil {
		t.Fatal(err)
	}
	if len(a.Mounts) != len(b.Mounts) || len(a.Mounts) != len(res.Mounts) {
		t.Fatalf("mounts: %d in, %d out, %d decisions", len(a.Mounts), len(b.Mounts), len(res.Mounts))
	}
	for i, d := range res.Mounts {
		if d.Action != Rewritten {
			if !bytes.Equal(a.Mounts[i], b.Mounts[i]) {
				t.Fatalf("mounts[%d] was %v but changed from %s to %s", i, d.Action, a.Mounts[i], b.Mounts[i])
			}
			continue
		}
		var ma, mb map[string]json.RawMessage
		if json.Unmarshal(a.Mounts[i], &ma) != nil || json.Unmarshal(b.Mounts[i], &mb) != nil || len(ma) != len(mb) {
			t.Fatalf("mounts[%d]: %s became %s", i, a.Mounts[i], b.Mounts[i])
		}
		for k, v := range ma {
			if !strings.EqualFold(k, "options") && !bytes.Equal(v, mb[k]) {
				t.Fatalf("mounts[%d].%s changed from %s to %s", i, k, v, mb[k])
			}
		}
	}
}
