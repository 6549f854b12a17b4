package clients

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// startCtrContainerd starts a containerd without CRI and imports the image.
func startCtrContainerd(t *testing.T) *fixture.Containerd {
	t.Helper()
	c := fixture.NewContainerd(t, false)
	c.Start(t)
	ok(t)(c.Ctr("image", "import", fixture.ImageTar(t)))
	return c
}

// ctrRun runs the image to completion with `ctr run --rm --runc-binary`:
// without CRI, ctr cannot pick a runtime handler by name.
func ctrRun(c *fixture.Containerd, runtime, id, vol string, args ...string) (string, error) {
	argv := []string{"run", "--rm", "--runc-binary", runtime, "--runc-root", c.RuncRoot, "--fifo-dir", c.FifoDir,
		"--mount", "type=bind,src=" + vol + ",dst=/vol,options=rbind:ro",
		fixture.ImageRefFull, id}
	return c.Ctr(append(argv, args...)...)
}

// ctrTaskStatus is the status column of `ctr task ls` for id ("" if none).
func ctrTaskStatus(c *fixture.Containerd, id string) string {
	out, err := c.Ctr("task", "ls")
	if err != nil {
		return "error: " + err.Error()
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// TestContainerdCtr runs containerd 1.6 driven by ctr, which can only use
// rro-runc per container, with --runc-binary: without the CRI plugin ctr
// cannot select a runtime handler by name.
func TestContainerdCtr(t *testing.T) {
	fixture.RequireRoot(t)
	conf := newWrapperConf(t)
	c := fixture.NewContainerd(t, false)
	c.Env = conf.env()
	c.Start(t)
	ctrSuite(t, c, conf, "")
}

// ctrSuite is the ctr suite against a started containerd (1.6 or 2.x)
// without CRI whose environment names conf. crunRefuses, when not "", is
// the error crun gives for every container of this containerd, with or
// without rro-runc (see wantSameCrunRefusal).
func ctrSuite(t *testing.T, c *fixture.Containerd, conf *wrapperConf, crunRefuses string) {
	rro, runc := fixture.RroRunc(t), fixture.Runc(t)
	ok(t)(c.Ctr("image", "import", fixture.ImageTar(t)))
	vol := fixture.NestedVolume(t)
	shimRoot := filepath.Join(c.RuncRoot, fixture.CtrNamespace)

	t.Run("plain runc leaves submounts writable", func(t *testing.T) {
		fixture.CheckProbe(t, ok(t)(ctrRun(c, runc, "plain", vol, probeArgs...)), fixture.WantPlain)
	})
	t.Run("rro-runc makes submounts read-only", func(t *testing.T) {
		fixture.CheckProbe(t, ok(t)(ctrRun(c, rro, "rro", vol, probeArgs...)), fixture.WantRRO)
	})
	t.Run("rro-runc over crun, beside plain crun", func(t *testing.T) {
		crun := fixture.CrunShim(t)
		if crunRefuses != "" {
			wantSameCrunRefusal(t, crunRefuses, conf, rro, crun, func(runtime, id string) (string, error) {
				return ctrRun(c, runtime, id, vol, probeArgs...)
			})
			return
		}
		fixture.CheckProbe(t, ok(t)(ctrRun(c, crun, "plain-crun", vol, probeArgs...)), fixture.WantPlain)
		conf.set(t, "Enabled", crun)
		t.Cleanup(func() { conf.set(t, "IfPossible", runc) })
		fixture.CheckProbe(t, ok(t)(ctrRun(c, rro, "rro-crun", vol, probeArgs...)), fixture.WantRRO)
	})
	t.Run("policy Enabled without rro fails visibly", func(t *testing.T) {
		conf.enabledWithoutRRO(t)
		out, err := ctrRun(c, rro, "enabled", vol, probeArgs...)
		wantWrapperError(t, out, err, "OCI runtime create failed: ")
		if s := ctrTaskStatus(c, "enabled"); s != "" {
			t.Errorf("task left behind: %s", s)
		}
		if left := runcStateLeft(t, shimRoot, "enabled"); len(left) > 0 {
			t.Errorf("runc state left behind: %v", left)
		}
		if out := ok(t)(c.Ctr("container", "ls", "-q")); strings.Contains(out, "enabled") {
			t.Errorf("container record left behind: %s", out)
		}
	})
	t.Run("exec, ps, stop, kill and remove through rro-runc", func(t *testing.T) {
		for _, id := range []string{"svc-stop", "svc-kill"} {
			ok(t)(c.Ctr(append([]string{"run", "-d", "--runc-binary", rro, "--runc-root", c.RuncRoot, "--fifo-dir", c.FifoDir,
				"--mount", "type=bind,src=" + vol + ",dst=/vol,options=rbind:ro", fixture.ImageRefFull, id}, serviceArgs...)...))
			waitFor(t, id+" running", func() (bool, string) { s := ctrTaskStatus(c, id); return s == "RUNNING", s })
			wantRuncState(t, id, shimRoot)
		}
		fixture.CheckProbe(t, ok(t)(c.Ctr(append([]string{"task", "exec", "--exec-id", "probe", "svc-stop"}, probeArgs...)...)), fixture.WantRRO)
		if out := ok(t)(c.Ctr("task", "ps", "svc-stop")); len(strings.Fields(out)) < 4 {
			t.Errorf("ctr task ps svc-stop: %q", out)
		}
		ok(t)(c.Ctr("task", "kill", "--signal", "SIGTERM", "svc-stop"))
		ok(t)(c.Ctr("task", "kill", "--signal", "SIGKILL", "svc-kill"))
		for _, id := range []string{"svc-stop", "svc-kill"} {
			waitFor(t, id+" stopped", func() (bool, string) { s := ctrTaskStatus(c, id); return s == "STOPPED", s })
			ok(t)(c.Ctr("task", "delete", id))
			ok(t)(c.Ctr("container", "delete", id))
			if left := runcStateLeft(t, shimRoot, id); len(left) > 0 {
				t.Errorf("runc state left behind: %v", left)
			}
		}
		if out := ok(t)(c.Ctr("container", "ls", "-q")); strings.TrimSpace(out) != "" {
			t.Errorf("containers left: %s", out)
		}
	})
}
