package configure

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/BurntSushi/toml"
)

const testBinary = "/usr/local/bin/rro-runc"

func opts(mod ...func(*Options)) Options {
	o := Options{RuntimeName: DefaultRuntimeName, Binary: testBinary}
	for _, m := range mod {
		m(&o)
	}
	return o
}

// edit runs Edit and checks the guarantees every successful edit has:
// a second run returns its input unchanged, byte for byte.
func edit(t *testing.T, tg Target, in string, o Options) string {
	t.Helper()
	out, err := Edit(tg, "test.conf", []byte(in), o)
	if err != nil {
		t.Fatalf("Edit: %v\ninput:\n%s", err, in)
	}
	again, err := Edit(tg, "test.conf", out, o)
	if err != nil {
		t.Fatalf("second Edit: %v\ninput:\n%s", err, out)
	}
	if !bytes.Equal(again, out) {
		t.Fatalf("not idempotent:\n%s", UnifiedDiff("first", "second", out, again))
	}
	if err := checkRemove(tg, []byte(in), out, o); err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// checkRemove checks that Remove undoes Edit: when in holds nothing of
// the runtime, Remove(out), out being Edit(in), gives back in byte for
// byte, except in the cases Remove documents, where it must at least
// leave nothing of the runtime behind. When in already held a runtime of
// that name, Remove(out) takes it out or refuses it as not rroctl's.
func checkRemove(tg Target, in, out []byte, o Options) error {
	back, err := Remove(tg, "test.conf", out, o)
	if before, berr := Remove(tg, "test.conf", in, o); berr != nil || !bytes.Equal(before, in) {
		if err != nil && !errors.Is(err, ErrNotOurs) {
			return fmt.Errorf("Remove after Edit over a runtime already there: %v\n%s", err, out)
		}
		if err == nil {
			if again, err := Remove(tg, "test.conf", back, o); err != nil || !bytes.Equal(again, back) {
				return fmt.Errorf("Remove not idempotent (%v):\n%s", err, UnifiedDiff("first", "second", back, again))
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("Remove after Edit: %v\n%s", err, out)
	}
	if bytes.Equal(back, in) {
		return nil
	}
	if !removeMayDiffer(tg, in, o) {
		return fmt.Errorf("Remove after Edit does not give back the input:\n%s", UnifiedDiff("input", "removed", in, back))
	}
	if again, err := Remove(tg, "test.conf", back, o); err != nil || !bytes.Equal(again, back) {
		return fmt.Errorf("something of the runtime is left (%v):\n%s", err, back)
	}
	return nil
}

// removeMayDiffer reports the cases in which Remove documents that it
// cannot give back the bytes Edit was given.
func removeMayDiffer(tg Target, in []byte, o Options) bool {
	var m map[string]any
	var err error
	if tg == Docker {
		if len(bytes.TrimSpace(in)) == 0 {
			return len(in) > 0 // blanks: Edit reads them as no file
		}
		if m, err = parseJSON(in); err != nil || len(m) == 0 {
			return err == nil // {} written some other way
		}
		if setsDefault(m["default-runtime"], o) {
			return true
		}
		return hasEmptyTable(m)
	}
	if m, err = parseTOML(in); err != nil {
		return false
	}
	switch tg {
	case Containerd:
		version, _ := m["version"].(int64)
		if len(m) == 1 && m["version"] != nil ||
			setsDefault(get(m, "plugins", criPlugin[version], "containerd", "default_runtime_name"), o) {
			return true
		}
	case Podman:
		list, _ := stringList(get(m, "engine", "runtime_supports_json"))
		if setsDefault(get(m, "engine", "runtime"), o) || slices.Equal(list, podmanJSONRuntimes) || slices.Contains(list, o.RuntimeName) {
			return true
		}
	}
	// A header with no key of its own.
	d, err := scanTOML(in)
	if err != nil {
		return false
	}
	for i, h := range d.headers {
		if !h.array && !slices.ContainsFunc(d.kvs, func(kv tomlKV) bool { return kv.header == i }) {
			return true
		}
	}
	return false
}

// setsDefault: Remove takes out a default naming the runtime, and Edit
// with SetAsDefault replaces the default there was.
func setsDefault(def any, o Options) bool {
	return def == o.RuntimeName || o.SetAsDefault && def != nil
}

// hasEmptyTable reports a table (object) that holds nothing, below the top.
func hasEmptyTable(m map[string]any) bool {
	for _, v := range m {
		if t, ok := v.(map[string]any); ok && (len(t) == 0 || hasEmptyTable(t)) {
			return true
		}
	}
	return false
}

// editErr runs Edit expecting an error that wraps want and names the file.
func editErr(t *testing.T, tg Target, in string, o Options, want error) error {
	t.Helper()
	out, err := Edit(tg, "/etc/test.conf", []byte(in), o)
	if err == nil {
		t.Fatalf("Edit succeeded, want %v; output:\n%s", want, out)
	}
	if !errors.Is(err, want) {
		t.Fatalf("Edit: %v, want an error wrapping %v", err, want)
	}
	if want != ErrInvalidOption && !bytes.Contains([]byte(err.Error()), []byte("/etc/test.conf")) {
		t.Errorf("error %q does not name the file", err)
	}
	return err
}

func decodeTOML(t *testing.T, s string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if _, err := toml.Decode(s, &m); err != nil {
		t.Fatalf("result does not parse: %v\n%s", err, s)
	}
	return m
}

// get reads the value at path in a decoded document; nil when the path is
// missing. Tests only: the editors walk tables with lookupTable.
func get(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		t, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = t[k]
	}
	return v
}
