package configure

import (
	"bytes"
	"errors"
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
	return string(out)
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

// get walks a decoded document; "" when the path is missing.
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
