package clients

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// setDockerRuntime adds or replaces runtimes.<name> in daemon.json. The
// --add-runtime flag would conflict with a runtimes key in the file.
func setDockerRuntime(t *testing.T, d *fixture.Docker, name, path string, args ...string) {
	t.Helper()
	config := d.Config
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", config, err)
	}
	runtimes, _ := cfg["runtimes"].(map[string]any)
	if runtimes == nil {
		runtimes = map[string]any{}
	}
	rt := map[string]any{"path": path}
	if len(args) > 0 {
		rt["runtimeArgs"] = args
	}
	runtimes[name] = rt
	cfg["runtimes"] = runtimes
	writeJSON(t, config, cfg)
}

// dockerRun runs the image to completion with runtime and vol at /vol:ro.
func dockerRun(d *fixture.Docker, runtime, vol string, args ...string) (string, error) {
	argv := []string{"run", "--rm", "--network", "none", "-v", vol + ":/vol:ro"}
	if runtime != "" {
		argv = append(argv, "--runtime", runtime)
	}
	argv = append(argv, fixture.ImageRef)
	return d.Docker(append(argv, args...)...)
}

// dockerRuntimeArgs returns runtimes.<name>.runtimeArgs of daemon.json.
func dockerRuntimeArgs(t *testing.T, config, name string) []string {
	t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Runtimes map[string]struct {
			Path        string   `json:"path"`
			RuntimeArgs []string `json:"runtimeArgs"`
		} `json:"runtimes"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", config, err)
	}
	rt, found := cfg.Runtimes[name]
	if !found {
		t.Fatalf("%s has no runtimes.%s", config, name)
	}
	return rt.RuntimeArgs
}

// stateOf is a container's state (running, exited, ...) as docker or
// podman inspect report it, or "" when the container does not exist.
func stateOf(cli func(args ...string) (string, error), name string) string {
	out, err := cli("inspect", "--format", "{{.State.Status}}", name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

func dockerState(d *fixture.Docker, name string) string { return stateOf(d.Docker, name) }

// TestDocker runs Docker 20.10 (dockerd with its own containerd) with
// rro-runc installed by `rroctl configure docker` into daemon.json.
func TestDocker(t *testing.T) {
	fixture.RequireRoot(t)
	rro := fixture.RroRunc(t)
	conf := newWrapperConf(t)
	d := fixture.NewDocker(t)
	d.Env = conf.env()
	configure(t, "docker", d.Config, rro)
	// A second runtime whose runtimeArgs carry the policy, as the README
	// documents; the runtime lacking rro is added to the same arguments.
	configure(t, "docker", d.Config, rro, "--runtime-name", "rro-enabled", "--policy", "Enabled")
	args := dockerRuntimeArgs(t, d.Config, "rro-enabled")
	if !slices.Contains(args, "--rro-policy=Enabled") {
		t.Errorf("runtimes.rro-enabled.runtimeArgs = %q, want --rro-policy=Enabled", args)
	}
	setDockerRuntime(t, d, "rro-enabled", rro, append(args, "--rro-runtime="+fixture.FakeRuntimeNoRRO(t))...)
	d.Start(t)
	d.LoadImage(t)
	vol := fixture.NestedVolume(t)

	t.Run("plain runc leaves submounts writable", func(t *testing.T) {
		fixture.CheckProbe(t, ok(t)(dockerRun(d, "runc", vol, probeArgs...)), fixture.WantPlain)
	})
	t.Run("rro-runc makes submounts read-only", func(t *testing.T) {
		fixture.CheckProbe(t, ok(t)(dockerRun(d, "rro", vol, probeArgs...)), fixture.WantRRO)
	})
	t.Run("policy Enabled without rro fails visibly", func(t *testing.T) {
		cidfile := filepath.Join(t.TempDir(), "cid")
		out, err := d.Docker(append([]string{"run", "--rm", "--name", "enabled", "--cidfile", cidfile, "--runtime", "rro-enabled",
			"--network", "none", "-v", vol + ":/vol:ro", fixture.ImageRef}, probeArgs...)...)
		wantWrapperError(t, out, err, "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: ")
		waitFor(t, "the failed container to go", func() (bool, string) { s := dockerState(d, "enabled"); return s == "", s })
		noRuncStateFor(t, cidfile, d.Dir)
	})
	t.Run("exec, top, stop, start, kill and remove through rro-runc", func(t *testing.T) {
		id := strings.TrimSpace(ok(t)(d.Docker(append([]string{"run", "-d", "--name", "svc", "--runtime", "rro",
			"--network", "none", "-v", vol + ":/vol:ro", fixture.ImageRef}, serviceArgs...)...)))
		wantRuncState(t, id, d.Dir)
		fixture.CheckProbe(t, ok(t)(d.Docker(append([]string{"exec", "svc"}, probeArgs...)...)), fixture.WantRRO)
		if out := ok(t)(d.Docker("top", "svc")); !strings.Contains(out, "sleep") && !strings.Contains(out, "trap") {
			t.Errorf("docker top svc: %q", out)
		}
		ok(t)(d.Docker("stop", "--time", "20", "svc"))
		if s := dockerState(d, "svc"); s != "exited" {
			t.Errorf("after stop: %s", s)
		}
		if code := strings.TrimSpace(ok(t)(d.Docker("inspect", "--format", "{{.State.ExitCode}}", "svc"))); code != "0" {
			t.Errorf("stop: exit code %s, want 0 (SIGTERM handled, not killed)", code)
		}
		ok(t)(d.Docker("start", "svc")) // a second create through rro-runc
		fixture.CheckProbe(t, ok(t)(d.Docker(append([]string{"exec", "svc"}, probeArgs...)...)), fixture.WantRRO)
		ok(t)(d.Docker("kill", "svc"))
		waitFor(t, "svc killed", func() (bool, string) { s := dockerState(d, "svc"); return s == "exited", s })
		ok(t)(d.Docker("rm", "svc"))
		if out := ok(t)(d.Docker("ps", "-aq")); strings.TrimSpace(out) != "" {
			t.Errorf("containers left: %s", out)
		}
		if left := runcStateLeft(t, d.Dir, ""); len(left) > 0 {
			t.Errorf("runc state left behind: %v", left)
		}
	})
}
