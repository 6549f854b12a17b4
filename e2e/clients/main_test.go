package clients

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rro-runc/rro-runc/e2e/fixture"
)

func TestMain(m *testing.M) { fixture.Main(m) }

// probeArgs is the container command of every probe.
var probeArgs = []string{"/bin/sh", "-c", fixture.ProbeScript}

// volMount returns the /vol mount of a captured or written config.json.
func volMount(t *testing.T, configJSON []byte) specs.Mount {
	t.Helper()
	var s specs.Spec
	if err := json.Unmarshal(configJSON, &s); err != nil {
		t.Fatalf("config.json: %v", err)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/vol" {
			return m
		}
	}
	t.Fatalf("config.json has no /vol mount")
	return specs.Mount{}
}

// capturedWithVol returns the captured config.json that mounts /vol: the
// CRI plugin also creates a sandbox container, which does not.
func capturedWithVol(t *testing.T, dir string) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var found [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"destination":"/vol"`) || strings.Contains(string(b), `"destination": "/vol"`) {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one captured config.json with a /vol mount in %s, found %d (of %d files)", dir, len(found), len(files))
	}
	return found[0]
}

// ok returns a function that fails t with a command's output when its
// error is not nil, and returns the output otherwise: ok(t)(c.Ctr(...)).
func ok(t *testing.T) func(out string, err error) string {
	t.Helper()
	return func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
}

// wrapperConfig writes an rro-runc configuration file and returns its path.
func wrapperConfig(t *testing.T, policy, runtime string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rro-runc.toml")
	content := fmt.Sprintf("policy = %q\n", policy)
	if runtime != "" {
		content += fmt.Sprintf("runtime = %q\n", runtime)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
