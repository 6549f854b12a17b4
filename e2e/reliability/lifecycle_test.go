package reliability

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// systemPath is a PATH in which the first runc is the real one.
const systemPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// brokenConfig is a way for the wrapper's configuration file to break
// while containers exist. It returns a command prefix for rro-runc.
type brokenConfig struct {
	name    string
	breakIt func(t *testing.T, cfg string) (prefix []string)
}

var brokenConfigs = []brokenConfig{
	{"deleted", func(t *testing.T, cfg string) []string {
		if err := os.Remove(cfg); err != nil {
			t.Fatal(err)
		}
		return nil
	}},
	{"corrupt", func(t *testing.T, cfg string) []string {
		// Half a rewrite by an editor or a config manager, then garbage.
		if err := os.WriteFile(cfg, []byte("runtime = \"/usr/sbin/runc\"\npolicy = \"Ena\x00\xff\xfe[[[\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return nil
	}},
	{"invalid settings", func(t *testing.T, cfg string) []string {
		if err := os.WriteFile(cfg, []byte("policy = \"Sometimes\"\npolcy = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return nil
	}},
	{"unreadable, a directory", func(t *testing.T, cfg string) []string {
		if err := os.Remove(cfg); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(cfg, 0o755); err != nil {
			t.Fatal(err)
		}
		return nil
	}},
	{"a FIFO", func(t *testing.T, cfg string) []string {
		// Nobody will ever write to it: reading it would block forever.
		if err := os.Remove(cfg); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkfifo(cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		return nil
	}},
	{"unreadable, permission denied", func(t *testing.T, cfg string) []string {
		if err := os.Chmod(cfg, 0); err != nil {
			t.Fatal(err)
		}
		// Root without these two capabilities meets the permission bits.
		return []string{fixture.LookPath(t, "setpriv"), "--bounding-set", "-dac_override,-dac_read_search", "--"}
	}},
}

// TestLifecycleBrokenConfig creates real runc containers through rro-runc
// with a good configuration, breaks the configuration file, removes the
// bundles, and then runs through rro-runc what containerd calls while it
// recovers after a restart: --version, features, state, ps, list,
// events --stats, kill, delete and delete --force. Deterministic output
// (everything but events) must equal direct runc's byte for byte, with the
// same exit status, also for a container that does not exist; the others
// must act.
func TestLifecycleBrokenConfig(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc := fixture.RroRunc(t)
	runc := fixture.Runc(t)
	rootfs := fixture.Rootfs(t)
	for _, bc := range brokenConfigs {
		t.Run(bc.name, func(t *testing.T) {
			root := filepath.Join(fixture.ShortTempDir(t), "state")
			t.Cleanup(func() { fixture.DeleteRuncContainers(t, root) })
			cfg := filepath.Join(t.TempDir(), "rro-runc.toml")
			if err := os.WriteFile(cfg, []byte(fmt.Sprintf("policy = \"IfPossible\"\nruntime = %q\n", runc)), 0o644); err != nil {
				t.Fatal(err)
			}
			env := baseEnv(systemPath, envConfig+"="+cfg, envCacheDir+"="+t.TempDir())
			direct := func(args ...string) result {
				t.Helper()
				return runCmd(t, baseEnv(systemPath), runc, append([]string{"--root", root}, args...)...)
			}
			var prefix []string
			wrapped := func(args ...string) result {
				t.Helper()
				args = append([]string{"--root", root}, args...)
				if len(prefix) > 0 {
					return runCmd(t, env, prefix[0], append(append(prefix[1:], rroRunc), args...)...)
				}
				return runCmd(t, env, rroRunc, args...)
			}

			// Containers made while the configuration was good.
			vol := t.TempDir()
			ids, bundles := map[string]string{}, []string{}
			for _, name := range []string{"running", "created", "forced"} {
				id := containerID(name)
				ids[name] = id
				bundle := fixture.Bundle(t, rootfs, []specs.Mount{fixture.VolumeMount(vol)}, "/bin/sleep", "300")
				bundles = append(bundles, bundle)
				if r := wrapped("create", "--bundle", bundle, id); r.code != 0 {
					t.Fatalf("create %s through rro-runc: exit %d: %s", id, r.code, r.stderr)
				}
				if name != "created" {
					if r := direct("start", id); r.code != 0 {
						t.Fatalf("start %s: exit %d: %s", id, r.code, r.stderr)
					}
				}
			}

			prefix = bc.breakIt(t, cfg)
			// The break is real: create, which needs the settings, refuses.
			refused := fixture.Bundle(t, rootfs, []specs.Mount{fixture.VolumeMount(vol)}, "/bin/true")
			if r := wrapped("create", "--bundle", refused, containerID("refused")); r.code != 1 || !strings.Contains(r.stderr, cfg) {
				t.Fatalf("create under the broken configuration: exit %d, stderr %q; want 1 and a message naming %s", r.code, r.stderr, cfg)
			}

			// Engines remove bundles while containers are still known
			// (pods stuck in Terminating): nothing after create may need one.
			for _, b := range bundles {
				if err := os.RemoveAll(b); err != nil {
					t.Fatal(err)
				}
			}

			same := func(args ...string) {
				t.Helper()
				w, d := wrapped(args...), direct(args...)
				if w.code != d.code || w.stdout != d.stdout {
					t.Errorf("%q: through rro-runc exit %d stdout %q; direct runc exit %d stdout %q; rro-runc stderr: %s",
						args, w.code, clip(w.stdout), d.code, clip(d.stdout), w.stderr)
				}
			}
			const missing = "rro-rel-no-such-container"
			same("--version")
			same("features")
			same("state", ids["running"])
			same("state", ids["created"])
			same("ps", "--format", "json", ids["running"])
			same("list", "--format", "json")
			same("state", missing)
			same("ps", "--format", "json", missing)
			same("kill", missing, "KILL")
			same("delete", missing)
			same("events", "--stats", missing)

			// events --stats prints one JSON object of live counters.
			for _, r := range []result{wrapped("events", "--stats", ids["running"]), direct("events", "--stats", ids["running"])} {
				var ev struct{ Type, ID string }
				if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ev) != nil || ev.Type != "stats" || ev.ID != ids["running"] {
					t.Errorf("events --stats %s: exit %d, stdout %q, stderr %s", ids["running"], r.code, clip(r.stdout), r.stderr)
				}
			}

			// The actions act.
			if r := wrapped("kill", ids["running"], "KILL"); r.code != 0 || r.stdout != "" {
				t.Fatalf("kill through rro-runc: exit %d stdout %q: %s", r.code, r.stdout, r.stderr)
			}
			waitStatus(t, direct, ids["running"], "stopped")
			same("state", ids["running"])
			if r := wrapped("delete", ids["running"]); r.code != 0 || r.stdout != "" {
				t.Errorf("delete through rro-runc: exit %d stdout %q: %s", r.code, r.stdout, r.stderr)
			}
			for _, name := range []string{"created", "forced"} {
				if r := wrapped("delete", "--force", ids[name]); r.code != 0 || r.stdout != "" {
					t.Errorf("delete --force %s container through rro-runc: exit %d stdout %q: %s", name, r.code, r.stdout, r.stderr)
				}
			}
			for name, id := range ids {
				if r := direct("state", id); r.code == 0 {
					t.Errorf("%s container %s still exists after delete through rro-runc", name, id)
				}
			}
			same("list", "--format", "json")
		})
	}
}

func waitStatus(t *testing.T, direct func(...string) result, id, status string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var st specs.State
		if r := direct("state", id); r.code == 0 && json.Unmarshal([]byte(r.stdout), &st) == nil && st.Status == specs.ContainerState(status) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("container %s did not become %s", id, status)
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return strings.TrimSpace(s)
}
