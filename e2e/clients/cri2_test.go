package clients

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// criHandlerTable is the table `rroctl configure containerd` must write
// the handler "rro" into for containerd 2.x (config version 3 and 4).
const criHandlerTable = `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.rro]`

// startCRI2 writes a containerd 2.x config with CRI (config version 3,
// fixture.NewContainerd2), lets edit change it, installs the handler
// "rro" with `rroctl configure containerd` and starts the daemon.
func startCRI2(t *testing.T, conf *wrapperConf, extra string) *fixture.Containerd {
	t.Helper()
	c := fixture.NewContainerd2(t, fixture.Containerd2Options{CRI: true, Env: conf.env(), Extra: extra})
	configure(t, "containerd", c.Config, fixture.RroRunc(t))
	wantHandlerTable(t, c.Config)
	c.Start(t)
	wantContainerd2(t, c)
	return c
}

// wantHandlerTable checks that the handler went where containerd 2.x
// reads it, not into version 2's io.containerd.grpc.v1.cri.
func wantHandlerTable(t *testing.T, config string) {
	t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), criHandlerTable) {
		t.Fatalf("rroctl configure containerd did not write %s into %s:\n%s", criHandlerTable, config, b)
	}
}

// TestContainerd2CRI is TestContainerdCRI on containerd 2.x: the CRI
// plugin driven by crictl, with the handler `rro` that `rroctl configure
// containerd` adds to a new config version 3 file.
func TestContainerd2CRI(t *testing.T) {
	fixture.RequireRoot(t)
	conf := newWrapperConf(t)
	c := startCRI2(t, conf, "")
	criSuite(t, c, conf)
}

// TestContainerd2CRIDefaultConfig is the same with the handler added to
// the file containerd 2.4.2's `containerd config default` prints (what
// installation guides tell users to start from; it says version = 4),
// changed only where this machine needs it: paths under the test's
// directory, the local pause image, restrict_oom_score_adj, NRI off.
func TestContainerd2CRIDefaultConfig(t *testing.T) {
	fixture.RequireRoot(t)
	conf := newWrapperConf(t)
	c := fixture.NewContainerd2(t, fixture.Containerd2Options{CRI: true, Env: conf.env()})
	def, err := exec.Command(filepath.Join(c.BinDir, "containerd"), "config", "default").Output()
	if err != nil {
		t.Fatalf("containerd config default: %v", err)
	}
	if !strings.HasPrefix(string(def), "version = 4\n") {
		t.Errorf("containerd config default: want version = 4 first, got %q", strings.SplitN(string(def), "\n", 2)[0])
	}
	local := localizeDefaultConfig(t, string(def), c)
	if err := os.WriteFile(c.Config, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	configure(t, "containerd", c.Config, fixture.RroRunc(t))
	wantHandlerTable(t, c.Config)
	after, err := os.ReadFile(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	// Only added lines: every line of the default is still there, in order.
	if removed := removedLines(local, string(after)); len(removed) > 0 {
		t.Errorf("rroctl configure changed or removed lines of the default config: %q", removed)
	}
	c.Start(t)
	wantContainerd2(t, c)
	criSuite(t, c, conf)
}

// localizeDefaultConfig rewrites the values of `containerd config
// default` that would touch the host's containerd (sockets, root, state,
// /etc imports, NRI's socket) or cannot work here (a registry pause
// image, oom_score_adj below 0, CNI). Each must occur exactly once, so
// that a changed default fails here rather than silently using the host's
// paths.
func localizeDefaultConfig(t *testing.T, def string, c *fixture.Containerd) string {
	t.Helper()
	q := func(s string) string { return "'" + s + "'" }
	for _, r := range [][2]string{
		{"root = '/var/lib/containerd'", "root = " + q(filepath.Join(c.Dir, "root"))},
		{"state = '/run/containerd'", "state = " + q(filepath.Join(c.Dir, "state"))},
		{"imports = ['/etc/containerd/conf.d/*.toml']", "imports = []"},
		{"address = '/run/containerd/containerd.sock'", "address = " + q(c.Address)},
		{"address = '/run/containerd/containerd.sock.ttrpc'", "address = " + q(c.Address+".ttrpc")},
		{"sandbox = 'registry.k8s.io/pause:3.10.2'", "sandbox = " + q(fixture.PauseImageRefFull)},
		{"restrict_oom_score_adj = false", "restrict_oom_score_adj = true"},
		{"bin_dirs = ['/opt/cni/bin']", "bin_dirs = [" + q(filepath.Join(c.Dir, "cni/bin")) + "]"},
		{"conf_dir = '/etc/cni/net.d'", "conf_dir = " + q(filepath.Join(c.Dir, "cni/conf"))},
		{"path = '/opt/containerd'", "path = " + q(filepath.Join(c.Dir, "opt"))},
		// The runc handler's options: its state under the test's directory.
		{"Root = ''", "Root = " + q(c.RuncRoot)},
		// NRI is on by default, on a host-wide socket.
		{"disable = false\n    socket_path = '/var/run/nri/nri.sock'", "disable = true\n    socket_path = " + q(filepath.Join(c.Dir, "nri.sock"))},
	} {
		if n := strings.Count(def, r[0]); n != 1 {
			t.Fatalf("containerd config default: %q occurs %d times, want once:\n%s", r[0], n, def)
		}
		def = strings.Replace(def, r[0], r[1], 1)
	}
	return def
}

// removedLines lists the lines of before that are missing, in order, from
// after.
func removedLines(before, after string) []string {
	a := strings.Split(after, "\n")
	var removed []string
	i := 0
	for _, l := range strings.Split(before, "\n") {
		j := slices.Index(a[i:], l)
		if j < 0 {
			removed = append(removed, l)
			continue
		}
		i += j + 1
	}
	return removed
}

// criRuntimeHandlers is what containerd tells the kubelet about each
// handler in `crictl info` (runtimeHandlers): "rro" when it may be asked
// for recursive_read_only, "no rro" when its features lack rro, "no
// features" when containerd could not introspect it (the runtime has no
// `features` command).
func criRuntimeHandlers(t *testing.T, c *fixture.Containerd) map[string]string {
	t.Helper()
	var info struct {
		RuntimeHandlers []struct {
			Name     string `json:"name"`
			Features *struct {
				RRO bool `json:"recursive_read_only_mounts"`
			} `json:"features"`
		} `json:"runtimeHandlers"`
	}
	out := ok(t)(c.Crictl("info", "-o", "json"))
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("crictl info: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, h := range info.RuntimeHandlers {
		switch {
		case h.Name == "": // the default handler, again
		case h.Features == nil:
			got[h.Name] = "no features"
		case h.Features.RRO:
			got[h.Name] = "rro"
		default:
			got[h.Name] = "no rro"
		}
	}
	return got
}

// kepOutcome is what one pod got for its /vol mount.
type kepOutcome struct {
	err     string          // the client's error, when the container did not run
	probe   map[string]bool // fixture.ParseProbe inside the container
	options []string        // the /vol mount's options in the bundle the runtime ran
}

func (o kepOutcome) String() string {
	if o.err != "" {
		return "error: " + o.err
	}
	return fmt.Sprintf("options %q, /vol/sub writable=%v", o.options, o.probe["/vol/sub"])
}

// kepRun runs, in a new pod on handler ("" for the default), a service
// container with vol at /vol, `readonly: true` and, if rro, Kubernetes'
// `recursive_read_only: true` (KEP-3857), probes it through crictl exec
// and reads the /vol mount from the bundle's config.json, which rro-runc
// rewrites in place before the real runtime reads it.
func kepRun(t *testing.T, c *fixture.Containerd, name, handler, vol string, rro bool) kepOutcome {
	t.Helper()
	pod, err := runPod(t, c, name, handler)
	if err != nil {
		return kepOutcome{err: lastLine(err.Error())}
	}
	if rro {
		pod.volFields = map[string]any{"recursive_read_only": true}
	}
	id, err := pod.createContainer(t, "svc", vol, serviceArgs...)
	if err != nil {
		return kepOutcome{err: lastLine(err.Error())}
	}
	if out, err := c.Crictl("start", id); err != nil {
		return kepOutcome{err: lastLine(out)}
	}
	waitFor(t, name+" running", func() (bool, string) { s := criState(c, id); return s == "CONTAINER_RUNNING", s })
	o := kepOutcome{probe: fixture.ParseProbe(ok(t)(c.Crictl(append([]string{"exec", "--sync", id}, probeArgs...)...)))}
	b, err := os.ReadFile(filepath.Join(c.Dir, "state", "io.containerd.runtime.v2.task", "k8s.io", id, "config.json"))
	if err != nil {
		t.Fatalf("the bundle of running container %s: %v", id, err)
	}
	o.options = volMount(t, b).Options
	ok(t)(c.Crictl("stop", "--timeout", "0", id))
	return o
}

// TestContainerd2CRIRecursiveReadOnly puts Kubernetes' own per-mount
// recursiveReadOnly (KEP-3857; the CRI mount field recursive_read_only)
// beside rro-runc on containerd 2.x, each pod also without rro-runc (the
// default handler, plain runc) as the control:
//   - recursive_read_only: containerd writes "rro" itself; rro-runc passes
//     it on unchanged and the submounts are read-only, as with plain runc;
//   - plain readonly: containerd writes "ro"; rro-runc makes it "rro"
//     (the node-wide default Kubernetes does not have); plain runc leaves
//     the submounts writable;
//   - over crun 1.8.1 (no `features` command): containerd's answer is in
//     crictl info (recursiveReadOnlyMounts false for the handler), and no
//     pod starts at all, with or without rro-runc, because crun refuses
//     containerd 2.x's ociVersion (crunRefusesSpec).
func TestContainerd2CRIRecursiveReadOnly(t *testing.T) {
	fixture.RequireRoot(t)
	vol := fixture.NestedVolume(t)

	t.Run("runc", func(t *testing.T) {
		conf := newWrapperConf(t)
		// norro: a runc whose features lack rro, to see containerd's own
		// answer to recursive_read_only for a runtime without it.
		c := startCRI2(t, conf, fmt.Sprintf(`[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.norro]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.norro.options]
    BinaryName = %q
`, fixture.FakeRuntimeNoRRO(t)))
		ok(t)(c.CtrNS("k8s.io", "image", "import", fixture.ImageTar(t)))
		features := criRuntimeHandlers(t, c)
		t.Logf("crictl info: recursiveReadOnlyMounts per handler: %v", features)
		for h, want := range map[string]string{"runc": "rro", "rro": "rro", "norro": "no rro"} {
			if features[h] != want {
				t.Errorf("crictl info: handler %q: %q, want %q", h, features[h], want)
			}
		}
		plainRO := kepRun(t, c, "plain-ro", "", vol, false)
		plainRRO := kepRun(t, c, "plain-rro", "", vol, true)
		wrapRO := kepRun(t, c, "rro-ro", "rro", vol, false)
		wrapRRO := kepRun(t, c, "rro-rro", "rro", vol, true)
		for _, o := range []struct {
			what string
			got  kepOutcome
			want map[string]bool
			opt  string
		}{
			{"plain runc, readonly", plainRO, fixture.WantPlain, "ro"},
			{"plain runc, recursive_read_only", plainRRO, fixture.WantRRO, "rro"},
			{"rro-runc, readonly", wrapRO, fixture.WantRRO, "rro"},
			{"rro-runc, recursive_read_only", wrapRRO, fixture.WantRRO, "rro"},
		} {
			t.Logf("%-32s %v", o.what+":", o.got)
			if o.got.err != "" {
				t.Errorf("%s: %s", o.what, o.got.err)
				continue
			}
			if !slices.Contains(o.got.options, o.opt) {
				t.Errorf("%s: /vol options %q lack %q", o.what, o.got.options, o.opt)
			}
			if o.opt == "ro" && slices.Contains(o.got.options, "rro") {
				t.Errorf("%s: /vol options %q have rro", o.what, o.got.options)
			}
			for _, p := range fixture.ProbePaths {
				if w, seen := o.got.probe[p]; !seen || w != o.want[p] {
					t.Errorf("%s: %s writable=%v (probed: %v), want %v", o.what, p, w, seen, o.want[p])
				}
			}
		}
		norro := kepRun(t, c, "norro-rro", "norro", vol, true)
		t.Logf("%-32s %v", "no rro in features, recursive_read_only:", norro)
		if !strings.Contains(norro.err, "runtime handler does not support recursive read-only mounts") {
			t.Errorf("a handler without rro, recursive_read_only: want containerd's refusal, got %v", norro)
		}
		// containerd's own rro reaches runc exactly as containerd wrote it.
		if !slices.Equal(wrapRRO.options, plainRRO.options) {
			t.Errorf("rro-runc changed containerd's recursive_read_only mount: %q, containerd wrote %q", wrapRRO.options, plainRRO.options)
		}
	})

	t.Run("crun 1.8.1", func(t *testing.T) {
		conf := newWrapperConf(t)
		crun := fixture.CrunShim(t)
		conf.set(t, "IfPossible", crun)
		c := startCRI2(t, conf, fmt.Sprintf(`[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.crun]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.crun.options]
    BinaryName = %q
`, crun))
		ok(t)(c.CtrNS("k8s.io", "image", "import", fixture.ImageTar(t)))
		features := criRuntimeHandlers(t, c)
		t.Logf("crictl info: recursiveReadOnlyMounts per handler: %v", features)
		for _, h := range []string{"crun", "rro"} {
			if features[h] != "no features" {
				t.Errorf("crictl info: handler %q: %q, want \"no features\": crun 1.8.1 has no features command", h, features[h])
			}
		}
		var errs []string
		for _, h := range []string{"crun", "rro"} {
			for _, rro := range []bool{false, true} {
				o := kepRun(t, c, fmt.Sprintf("%s-%v", h, rro), h, vol, rro)
				t.Logf("handler %s, recursive_read_only %v: %v", h, rro, o)
				if !strings.Contains(o.err, "OCI runtime create failed: "+crunRefusesSpec) {
					t.Errorf("handler %s, recursive_read_only %v: want the pod refused by crun (%q), got %v", h, rro, crunRefusesSpec, o)
				}
				if i := strings.Index(o.err, "failed to create containerd task"); i >= 0 {
					errs = append(errs, o.err[i:]) // without the time and sandbox ID
				}
			}
		}
		for _, e := range errs {
			if e != errs[0] {
				t.Errorf("crictl's errors differ: %q and %q", errs[0], e)
			}
		}
	})
}
