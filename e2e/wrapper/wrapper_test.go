package wrapper

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

func TestMain(m *testing.M) { fixture.Main(m) }

// runtimeUnderTest is a real runtime as rro-runc is pointed at it.
type runtimeUnderTest struct {
	name string
	path func(t testing.TB) string
}

var runtimes = []runtimeUnderTest{
	{"runc", fixture.Runc},
	{"crun", fixture.CrunShim},
}

var seq atomic.Int64

func containerID(t *testing.T) string {
	return fmt.Sprintf("rro-e2e-%d-%d", os.Getpid(), seq.Add(1))
}

// wrapperConfig writes an rro-runc configuration file and returns its path.
func wrapperConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rro-runc.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// run executes bin with args and env additions; it returns stdout, stderr
// and the exit status.
func run(t *testing.T, env []string, bin string, args ...string) (string, string, int) {
	t.Helper()
	r := fixture.Run(t, append(os.Environ(), env...), time.Minute, bin, args...)
	return r.Stdout, r.Stderr, r.Code
}

// stateRoot is a private runtime state directory, with every container in
// it force-deleted at the end.
func stateRoot(t *testing.T, runtime string) string {
	root := filepath.Join(fixture.ShortTempDir(t), "state")
	t.Cleanup(func() {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			exec.Command(runtime, "--root", root, "delete", "--force", e.Name()).Run()
		}
	})
	return root
}

// TestRecursiveReadOnly is the product's promise: a read-only volume whose
// host source holds a tmpfs that holds another tmpfs is read-only all the
// way down through rro-runc, over runc and over crun, while the same
// container through the plain runtime can write to both submounts.
func TestRecursiveReadOnly(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc, _ := fixture.Binaries(t)
	for _, rt := range runtimes {
		t.Run(rt.name, func(t *testing.T) {
			runtime := rt.path(t)
			vol := fixture.NestedVolume(t)
			root := stateRoot(t, runtime)

			t.Run("plain runtime", func(t *testing.T) {
				bundle := fixture.Bundle(t, fixture.Rootfs(t), []specs.Mount{fixture.VolumeMount(vol)}, "/bin/sh", "-c", fixture.ProbeScript)
				out, errOut, code := run(t, nil, runtime, "--root", root, "run", "--bundle", bundle, containerID(t))
				if code != 0 {
					t.Fatalf("plain %s run: exit %d: %s", rt.name, code, errOut)
				}
				fixture.CheckProbe(t, out, fixture.WantPlain)
			})
			for _, tc := range []struct {
				policy string
				want   map[string]bool
			}{
				{"IfPossible", fixture.WantRRO},
				{"Enabled", fixture.WantRRO},
				{"Disabled", fixture.WantPlain},
			} {
				t.Run("rro-runc policy "+tc.policy, func(t *testing.T) {
					cfg := wrapperConfig(t, fmt.Sprintf("policy = %q\nruntime = %q\n", tc.policy, runtime))
					bundle := fixture.Bundle(t, fixture.Rootfs(t), []specs.Mount{fixture.VolumeMount(vol)}, "/bin/sh", "-c", fixture.ProbeScript)
					before, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
					out, errOut, code := run(t, []string{"RRO_RUNC_CONFIG=" + cfg}, rroRunc, "--root", root, "run", "--bundle", bundle, containerID(t))
					if code != 0 {
						t.Fatalf("rro-runc run: exit %d: %s", code, errOut)
					}
					fixture.CheckProbe(t, out, tc.want)
					after, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
					if tc.policy == "Disabled" && !bytes.Equal(before, after) {
						t.Errorf("policy Disabled changed config.json")
					}
				})
			}
		})
	}
}

// TestStateShowsApplied checks what an operator sees after a create: the
// mount options in config.json and the org.rro-runc.applied annotation in
// the runtime's own `state` output.
func TestStateShowsApplied(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc, _ := fixture.Binaries(t)
	for _, rt := range runtimes {
		t.Run(rt.name, func(t *testing.T) {
			runtime := rt.path(t)
			root := stateRoot(t, runtime)
			vol := fixture.NestedVolume(t)
			bundle := fixture.Bundle(t, fixture.Rootfs(t), []specs.Mount{fixture.VolumeMount(vol)}, "/bin/sleep", "60")
			id := containerID(t)
			cfg := wrapperConfig(t, fmt.Sprintf("runtime = %q\n", runtime))
			log := filepath.Join(t.TempDir(), "log.json")
			_, errOut, code := run(t, []string{"RRO_RUNC_CONFIG=" + cfg}, rroRunc,
				"--root", root, "--log", log, "--log-format", "json", "create", "--bundle", bundle, id)
			if code != 0 {
				t.Fatalf("rro-runc create: exit %d: %s", code, errOut)
			}
			out, errOut, code := run(t, nil, runtime, "--root", root, "state", id)
			if code != 0 {
				t.Fatalf("%s state: exit %d: %s", rt.name, code, errOut)
			}
			var state specs.State
			if err := json.Unmarshal([]byte(out), &state); err != nil {
				t.Fatalf("state output %q: %v", out, err)
			}
			if got := state.Annotations["org.rro-runc.applied"]; got != "/vol" {
				t.Errorf("state annotation org.rro-runc.applied = %q, want /vol; annotations %v", got, state.Annotations)
			}
			spec := fixture.ReadSpec(t, bundle)
			for _, m := range spec.Mounts {
				if m.Destination == "/vol" && strings.Join(m.Options, ",") != "rbind,ro,rro,rprivate" && strings.Join(m.Options, ",") != "rbind,ro,rro" {
					t.Errorf("/vol options after create = %q", m.Options)
				}
			}
			// Success writes nothing into the runtime's log (conmon reads it
			// as one JSON object); whatever is there is the runtime's own.
			if b, _ := os.ReadFile(log); bytes.Contains(b, []byte("rro-runc")) {
				t.Errorf("rro-runc wrote to the log file on success: %s", b)
			}
			// The pass-through path reaches the runtime for the rest of the lifecycle.
			for _, args := range [][]string{{"start", id}, {"kill", id, "KILL"}} {
				if _, errOut, code := run(t, []string{"RRO_RUNC_CONFIG=" + cfg}, rroRunc, append([]string{"--root", root}, args...)...); code != 0 {
					t.Fatalf("rro-runc %v: exit %d: %s", args, code, errOut)
				}
			}
			waitStopped(t, runtime, root, id)
			if _, errOut, code := run(t, []string{"RRO_RUNC_CONFIG=" + cfg}, rroRunc, "--root", root, "delete", id); code != 0 {
				t.Fatalf("rro-runc delete: exit %d: %s", code, errOut)
			}
			if _, _, code := run(t, nil, runtime, "--root", root, "state", id); code == 0 {
				t.Errorf("container %s still exists after delete through rro-runc", id)
			}
		})
	}
}

func waitStopped(t *testing.T, runtime, root, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _, _ := run(t, nil, runtime, "--root", root, "state", id)
		if strings.Contains(out, `"stopped"`) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("container %s did not stop", id)
}

// TestEnabledRefusedWithoutRRO: policy Enabled over a runtime that lacks
// rro refuses the container the way containerd's shim reads errors: exit
// 1, exactly one JSON error line in --log naming the reason, config.json
// byte for byte as it was, and no container created.
func TestEnabledRefusedWithoutRRO(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc, _ := fixture.Binaries(t)
	fake := fixture.FakeRuntimeNoRRO(t)
	root := stateRoot(t, fixture.Runc(t))
	vol := fixture.NestedVolume(t)
	bundle := fixture.Bundle(t, fixture.Rootfs(t), []specs.Mount{fixture.VolumeMount(vol)}, "/bin/true")
	configPath := filepath.Join(bundle, "config.json")
	before, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "log.json")
	id := containerID(t)
	cfg := wrapperConfig(t, fmt.Sprintf("policy = \"Enabled\"\nruntime = %q\n", fake))

	stdout, stderr, code := run(t, []string{"RRO_RUNC_CONFIG=" + cfg}, rroRunc,
		"--root", root, "--log", log, "--log-format", "json", "create", "--bundle", bundle, id)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("rro-runc wrote to stdout: %q", stdout)
	}
	lines := strings.Split(strings.TrimSpace(readString(t, log)), "\n")
	if len(lines) != 1 {
		t.Fatalf("log has %d lines, want exactly one: %q", len(lines), lines)
	}
	var entry struct{ Level, Msg, Time string }
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatalf("log line %q is not JSON: %v", lines[0], err)
	}
	if _, err := time.Parse(time.RFC3339, entry.Time); err != nil {
		t.Errorf("time %q is not RFC 3339", entry.Time)
	}
	for _, want := range []string{"rro-runc:", "Enabled", fake, "rro"} {
		if !strings.Contains(entry.Msg, want) {
			t.Errorf("message %q does not mention %q", entry.Msg, want)
		}
	}
	if entry.Level != "error" {
		t.Errorf("level %q, want error", entry.Level)
	}
	after, _ := os.ReadFile(configPath)
	if !bytes.Equal(before, after) {
		t.Errorf("config.json changed although the container was refused")
	}
	if _, _, code := run(t, nil, fixture.Runc(t), "--root", root, "state", id); code == 0 {
		t.Errorf("container %s exists although rro-runc refused it", id)
	}
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
