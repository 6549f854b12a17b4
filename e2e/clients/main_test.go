package clients

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
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

// wrapperConf is an rro-runc configuration file that a daemon's
// environment names (RRO_RUNC_CONFIG): subtests rewrite it to change the
// policy without restarting the daemon, since rro-runc reads it on every
// create.
type wrapperConf struct{ path string }

func newWrapperConf(t *testing.T) *wrapperConf {
	t.Helper()
	c := &wrapperConf{path: filepath.Join(t.TempDir(), "rro-runc.toml")}
	c.set(t, "IfPossible", fixture.Runc(t))
	return c
}

// env is the daemon environment that points rro-runc at the file.
func (c *wrapperConf) env() []string { return []string{"RRO_RUNC_CONFIG=" + c.path} }

func (c *wrapperConf) set(t *testing.T, pol, runtime string) {
	t.Helper()
	content := fmt.Sprintf("policy = %q\nruntime = %q\n", pol, runtime)
	if err := os.WriteFile(c.path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// enabledWithoutRRO switches the file to policy Enabled with a runtime
// that lacks rro until the end of the (sub)test.
func (c *wrapperConf) enabledWithoutRRO(t *testing.T) {
	t.Helper()
	c.set(t, "Enabled", fixture.FakeRuntimeNoRRO(t))
	t.Cleanup(func() { c.set(t, "IfPossible", fixture.Runc(t)) })
}

// wantWrapperError checks that a client's own error output carries
// rro-runc's message, behind the client's usual prefix.
func wantWrapperError(t *testing.T, out string, err error, prefix string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want the client to fail with rro-runc's error, it succeeded:\n%s", out)
	}
	t.Logf("the client reports: %s", strings.TrimSpace(out))
	if !strings.Contains(out, prefix+"rro-runc: ") {
		t.Errorf("client output lacks %q:\n%s", prefix+"rro-runc: ", out)
	}
	if !strings.Contains(out, "rro") || !strings.Contains(strings.ToLower(out), "enabled") {
		t.Errorf("client output does not say that policy Enabled needs rro:\n%s", out)
	}
}

// runcStateLeft reports runc state directories named id under dir: what
// a failed create must not leave behind.
func runcStateLeft(t *testing.T, dir, id string) []string {
	t.Helper()
	var left []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == "overlay" || d.Name() == "overlay2" || d.Name() == "snapshots") {
			return fs.SkipDir
		}
		if d.Name() == "state.json" && strings.HasPrefix(filepath.Base(filepath.Dir(path)), id) {
			left = append(left, filepath.Dir(path))
		}
		return nil
	})
	return left
}

// wantRuncState checks that a running container's runc state is found
// under dirs: it proves that the leftover checks look in the right place.
func wantRuncState(t *testing.T, id string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if len(runcStateLeft(t, d, id)) > 0 {
			return
		}
	}
	t.Errorf("no runc state for running container %s under %v", id, dirs)
}

// noRuncStateFor checks that no runc state is left under dirs for the
// container whose ID the client wrote to cidfile.
func noRuncStateFor(t *testing.T, cidfile string, dirs ...string) {
	t.Helper()
	b, err := os.ReadFile(cidfile)
	id := strings.TrimSpace(string(b))
	if err != nil || id == "" {
		t.Fatalf("the client wrote no container ID to %s: %v", cidfile, err)
	}
	for _, d := range dirs {
		if left := runcStateLeft(t, d, id); len(left) > 0 {
			t.Errorf("runc state left behind: %v", left)
		}
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serviceArgs is a container command that exits 0 on SIGTERM, so that a
// stop is a stop and not a timeout followed by SIGKILL.
var serviceArgs = []string{"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do /bin/sleep 0.2; done"}
