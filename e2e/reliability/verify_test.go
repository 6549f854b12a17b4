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

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// TestVerifyPinnedContainer runs `rroctl verify` against a real runc
// container made through rro-runc: by ID and by --pid it proves the
// nested volume (a tmpfs with a tmpfs inside) read-only, all 3 mounts; once the container is killed, by ID it is a
// stopped container and by its old PID a process that is gone, both
// exit 2 and name the reason, never a report read from another process.
func TestVerifyPinnedContainer(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc, rroctl := fixture.Binaries(t)
	runc := fixture.Runc(t)
	rootfs := fixture.Rootfs(t)
	vol := fixture.NestedVolume(t)

	root := filepath.Join(fixture.ShortTempDir(t), "state")
	t.Cleanup(func() { fixture.DeleteRuncContainers(t, root) })
	cfg := filepath.Join(t.TempDir(), "rro-runc.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("policy = \"Enabled\"\nruntime = %q\n", runc)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(systemPath, envConfig+"="+cfg, envCacheDir+"="+t.TempDir())
	id := containerID("verify")
	bundle := fixture.Bundle(t, rootfs, []specs.Mount{fixture.VolumeMount(vol)}, "/bin/sleep", "300")
	if r := runCmd(t, env, rroRunc, "--root", root, "create", "--bundle", bundle, id); r.code != 0 {
		t.Fatalf("create through rro-runc: exit %d: %s", r.code, r.stderr)
	}
	if r := runCmd(t, env, runc, "--root", root, "start", id); r.code != 0 {
		t.Fatalf("start: exit %d: %s", r.code, r.stderr)
	}
	var st struct{ Pid int }
	r := runCmd(t, env, runc, "--root", root, "state", id)
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Pid <= 0 {
		t.Fatalf("runc state: %v %s", err, r.stdout)
	}

	verify := func(args ...string) result {
		t.Helper()
		return runCmd(t, env, rroctl, append([]string{"verify"}, args...)...)
	}
	byID := []string{"--runtime", runc, "--root", root, id}
	byPid := []string{"--pid", fmt.Sprint(st.Pid), "--bundle", bundle}
	for _, args := range [][]string{byID, byPid} {
		r := verify(args...)
		if r.code != 0 || !strings.Contains(r.stdout, "volume /vol") || !strings.Contains(r.stdout, "protected: all 3 mounts read-only") {
			t.Errorf("verify %q on the running container: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}

	if r := runCmd(t, env, runc, "--root", root, "kill", id, "KILL"); r.code != 0 {
		t.Fatalf("kill: exit %d: %s", r.code, r.stderr)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		r := runCmd(t, env, runc, "--root", root, "state", id)
		if strings.Contains(r.stdout, `"status": "stopped"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container not stopped: %s", r.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := verify(byID...); r.code != 2 || !strings.Contains(r.stderr, "is stopped") {
		t.Errorf("verify by ID of the stopped container: exit %d, want 2 and \"is stopped\"\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Gone, or a zombie no one has reaped yet (this test process may be
	// the subreaper): either way no mount table is read.
	if r := verify(byPid...); r.code != 2 || !(strings.Contains(r.stderr, fmt.Sprintf("process %d does not exist", st.Pid)) || strings.Contains(r.stderr, fmt.Sprintf("process %d has exited", st.Pid))) {
		t.Errorf("verify --pid of the gone process: exit %d, want 2 naming it\n%s%s", r.code, r.stdout, r.stderr)
	}
}
