package clients

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// newPodman returns a podman with the image loaded.
func newPodman(t *testing.T) *fixture.Podman {
	t.Helper()
	p := fixture.NewPodman(t)
	p.LoadImage(t)
	return p
}

// podmanRun runs the image to completion with runtime (a name from
// containers.conf or a path; "" for the default) and vol at /vol:ro.
func podmanRun(p *fixture.Podman, runtime, vol string, args ...string) (string, error) {
	var argv []string
	if runtime != "" {
		argv = append(argv, "--runtime", runtime)
	}
	argv = append(argv, "run", "--rm", "--network", "none", "-v", vol+":/vol:ro", fixture.ImageRef)
	return p.Podman(append(argv, args...)...)
}

func podmanState(p *fixture.Podman, name string) string { return stateOf(p.Podman, name) }

// TestPodman runs Podman 4.3 with rro-runc installed as its default
// runtime by `rroctl configure podman --set-as-default`; plain runc is
// picked with --runtime runc.
func TestPodman(t *testing.T) {
	fixture.RequireRoot(t)
	rro := fixture.RroRunc(t)
	p := fixture.NewPodman(t)
	configure(t, "podman", p.Conf, rro, "--set-as-default")
	p.LoadImage(t)
	vol := fixture.NestedVolume(t)
	// Podman hands the runtime no environment of its own: conmon drops
	// unknown variables on create, and kill and delete (also from the
	// `podman container cleanup` that conmon runs when the container
	// exits) run with an empty environment, PATH included. So, as for a
	// user, rro-runc runs here with its defaults (or /etc/rro-runc), and
	// must find the real runtime without PATH.

	t.Run("plain runc leaves submounts writable", func(t *testing.T) {
		fixture.CheckProbe(t, ok(t)(podmanRun(p, "runc", vol, probeArgs...)), fixture.WantPlain)
	})
	t.Run("rro-runc makes submounts read-only", func(t *testing.T) {
		fixture.CheckProbe(t, ok(t)(podmanRun(p, "", vol, probeArgs...)), fixture.WantRRO)
	})
	t.Run("policy Enabled without rro fails visibly", func(t *testing.T) {
		// --runtime-flag reaches every runtime call of this invocation:
		// the wrapper's own flags, as docker's runtimeArgs would pass them.
		cidfile := filepath.Join(t.TempDir(), "cid")
		out, err := p.Podman(append([]string{
			"--runtime-flag", "rro-policy=Enabled", "--runtime-flag", "rro-runtime=" + fixture.FakeRuntimeNoRRO(t),
			"run", "--rm", "--name", "enabled", "--cidfile", cidfile,
			"--network", "none", "-v", vol + ":/vol:ro", fixture.ImageRef}, probeArgs...)...)
		// runtime_supports_json makes conmon pass --log, so podman shows
		// rro-runc's message after the runtime's name.
		wantWrapperError(t, out, err, "OCI runtime error: rro: ")
		waitFor(t, "the failed container to go", func() (bool, string) { s := podmanState(p, "enabled"); return s == "", s })
		// Podman as root gives runc no --root: its state is in /run/runc.
		noRuncStateFor(t, cidfile, p.Dir, "/run/runc")
	})
	t.Run("exec, top, stop, start, kill and remove through rro-runc", func(t *testing.T) {
		id := strings.TrimSpace(ok(t)(p.Podman(append([]string{"run", "-d", "--name", "svc", "--network", "none",
			"-v", vol + ":/vol:ro", fixture.ImageRef}, serviceArgs...)...)))
		wantRuncState(t, id, p.Dir, "/run/runc")
		fixture.CheckProbe(t, ok(t)(p.Podman(append([]string{"exec", "svc"}, probeArgs...)...)), fixture.WantRRO)
		if out := ok(t)(p.Podman("top", "svc")); !strings.Contains(out, "sleep") && !strings.Contains(out, "trap") {
			t.Errorf("podman top svc: %q", out)
		}
		ok(t)(p.Podman("stop", "--time", "20", "svc"))
		if s := podmanState(p, "svc"); s != "exited" {
			t.Errorf("after stop: %s", s)
		}
		if code := strings.TrimSpace(ok(t)(p.Podman("inspect", "--format", "{{.State.ExitCode}}", "svc"))); code != "0" {
			t.Errorf("stop: exit code %s, want 0 (SIGTERM handled, not killed)", code)
		}
		ok(t)(p.Podman("start", "svc")) // a second create through rro-runc
		fixture.CheckProbe(t, ok(t)(p.Podman(append([]string{"exec", "svc"}, probeArgs...)...)), fixture.WantRRO)
		ok(t)(p.Podman("kill", "svc"))
		waitFor(t, "svc killed", func() (bool, string) { s := podmanState(p, "svc"); return s == "exited", s })
		ok(t)(p.Podman("rm", "svc"))
		if out := ok(t)(p.Podman("ps", "-aq")); strings.TrimSpace(out) != "" {
			t.Errorf("containers left: %s", out)
		}
	})
}
