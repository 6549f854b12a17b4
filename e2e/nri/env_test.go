package nri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

func TestMain(m *testing.M) { fixture.Main(m) }

// probeArgs is the container command of every probe.
var probeArgs = []string{"/bin/sh", "-c", fixture.ProbeScript}

// containerdBin is where e2e/setup.sh builds containerd 2.4.2.
func containerdBin(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(fixture.ModuleRoot(t), ".cache", "containerd-v2.4.2", "bin")
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			fixture.SkipOrFail(t, "containerd 2.4.2 not built at %s (run e2e/setup.sh): %v", dir, err)
		}
	}
	return dir
}

// cd2 is a private containerd 2.4.2 with the CRI plugin and NRI, whose
// root, state, gRPC and NRI sockets all live under Dir. (A small starter
// of its own until fixture gains one for containerd 2.x.)
type cd2 struct {
	Dir, Config, Address, NRISocket, RuncRoot string
	bin                                       string
	env                                       []string
	d                                         *fixture.Process
}

// cd2Options shape the config.
type cd2Options struct {
	// Required lists NRI plugins the default validator requires.
	Required []string
	// Handlers maps extra runtime handler names to BinaryName.
	Handlers map[string]string
	// Env is added to containerd's environment (and its shims').
	Env []string
}

func newCD2(t testing.TB, o cd2Options) *cd2 {
	t.Helper()
	fixture.RequireRoot(t)
	bin := containerdBin(t)
	crictlBin = fixture.Crictl(t)
	w := fixture.ShortTempDir(t)
	c := &cd2{
		Dir: w, Config: filepath.Join(w, "config.toml"), Address: filepath.Join(w, "c.sock"),
		NRISocket: filepath.Join(w, "nri.sock"), RuncRoot: filepath.Join(w, "runc"), bin: bin, env: o.Env,
	}
	for _, d := range []string{"cni/bin", "cni/conf", "runc", "nri-plugins", "nri-conf"} {
		if err := os.MkdirAll(filepath.Join(w, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version = 3\nroot = %q\nstate = %q\n", filepath.Join(w, "root"), filepath.Join(w, "state"))
	fmt.Fprintf(&b, "\n[grpc]\n  address = %q\n\n[ttrpc]\n  address = %q\n\n[debug]\n  address = %q\n", c.Address, c.Address+".ttrpc", filepath.Join(w, "debug.sock"))
	const rt = `plugins.'io.containerd.cri.v1.runtime'`
	fmt.Fprintf(&b, `
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = %q
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[%[2]s]
  restrict_oom_score_adj = true
[%[2]s.cni]
  bin_dirs = [%[3]q]
  conf_dir = %[4]q
[%[2]s.containerd]
  default_runtime_name = "runc"
[%[2]s.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[%[2]s.containerd.runtimes.runc.options]
  Root = %[5]q
`, fixture.PauseImageRefFull, rt, filepath.Join(w, "cni/bin"), filepath.Join(w, "cni/conf"), c.RuncRoot)
	for name, binary := range o.Handlers {
		fmt.Fprintf(&b, `[%[1]s.containerd.runtimes.%[2]s]
  runtime_type = "io.containerd.runc.v2"
  pod_annotations = ["org.rro-runc.*"]
[%[1]s.containerd.runtimes.%[2]s.options]
  BinaryName = %[3]q
  Root = %[4]q
`, rt, name, binary, filepath.Join(c.RuncRoot, name))
	}
	required, _ := json.Marshal(o.Required)
	if o.Required == nil {
		required = []byte("[]")
	}
	fmt.Fprintf(&b, `[plugins.'io.containerd.nri.v1.nri']
  disable = false
  socket_path = %q
  plugin_path = %q
  plugin_config_path = %q
  plugin_registration_timeout = "5s"
  plugin_request_timeout = "2s"
[plugins.'io.containerd.nri.v1.nri'.default_validator]
  enable = %v
  required_plugins = %s
`, c.NRISocket, filepath.Join(w, "nri-plugins"), filepath.Join(w, "nri-conf"), len(o.Required) > 0, required)
	if err := os.WriteFile(c.Config, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cleanup(t) })
	return c
}

// start runs containerd and waits for its CRI plugin; the first start
// also imports the images.
func (c *cd2) start(t testing.TB) {
	t.Helper()
	env := append([]string{"PATH=" + c.bin + ":" + os.Getenv("PATH")}, c.env...)
	first := c.d == nil
	c.d = fixture.StartProcess(t, "containerd", filepath.Join(c.Dir, "containerd.log"), env,
		filepath.Join(c.bin, "containerd"), "--config", c.Config)
	c.waitFor(t, "containerd's CRI plugin", func() error {
		if c.d.Exited() {
			return fmt.Errorf("containerd exited:\n%s", tail(c.d.LogText(), 30))
		}
		_, err := c.crictl("info")
		return err
	})
	if first {
		for _, tar := range []string{fixture.PauseImageTar(t), fixture.ImageTar(t)} {
			if out, err := c.ctr("image", "import", tar); err != nil {
				t.Fatalf("importing %s: %v\n%s", tar, err, out)
			}
		}
	}
}

// restart stops containerd (its shims and containers keep running) and
// starts it again with the same config.
func (c *cd2) restart(t testing.TB) {
	t.Helper()
	c.d.Stop(t, 15*time.Second)
	c.start(t)
}

func (c *cd2) waitFor(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cd2) ctr(args ...string) (string, error) {
	return output(filepath.Join(c.bin, "ctr"), append([]string{"--address", c.Address, "--namespace", "k8s.io"}, args...)...)
}

func (c *cd2) crictl(args ...string) (string, error) {
	ep := "unix://" + c.Address
	return output(crictlBin, append([]string{"--config", "/dev/null", "--runtime-endpoint", ep, "--image-endpoint", ep, "--timeout", "60s"}, args...)...)
}

var crictlBin string

func (c *cd2) cleanup(t testing.TB) {
	if c.d != nil && !c.d.Exited() {
		_, _ = c.crictl("rmp", "--all", "--force")
		c.d.Stop(t, 15*time.Second)
	}
	fixture.DeleteRuncContainers(t, c.Dir)
	fixture.KillProcessesMentioning(t, c.Dir)
	fixture.UnmountUnder(t, c.Dir)
}

func output(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// The client's own message is on stderr: keep it for the caller.
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// rroNRI builds cmd/rro-nri once (or takes RRO_NRI_BIN).
func rroNRI(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RRO_NRI_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	nriBuild.Do(func() {
		root := fixture.ModuleRoot(t)
		dir := filepath.Join(root, ".cache", "e2e-bin")
		if nriBuild.err = os.MkdirAll(dir, 0o755); nriBuild.err != nil {
			return
		}
		final := filepath.Join(dir, "rro-nri")
		tmp := fmt.Sprintf("%s.tmp.%d", final, os.Getpid())
		cmd := exec.Command("go", "build", "-trimpath", "-o", tmp, "./cmd/rro-nri")
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			nriBuild.err = fmt.Errorf("go build ./cmd/rro-nri: %v\n%s", err, out)
			return
		}
		nriBuild.err = os.Rename(tmp, final)
		nriBuild.path = final
	})
	if nriBuild.err != nil {
		t.Fatal(nriBuild.err)
	}
	return nriBuild.path
}

var nriBuild struct {
	sync.Once
	path string
	err  error
}

// plugin is a running rro-nri connected to a cd2.
type plugin struct {
	p    *fixture.Process
	args []string
	log  string
}

// startPlugin runs rro-nri against c's NRI socket with args and waits until
// it is registered.
func startPlugin(t testing.TB, c *cd2, args ...string) *plugin {
	t.Helper()
	pl := &plugin{
		args: append([]string{rroNRI(t), "--nri-socket", c.NRISocket}, args...),
		log:  filepath.Join(c.Dir, "rro-nri.log"),
	}
	pl.start(t)
	t.Cleanup(func() {
		if !pl.p.Exited() {
			pl.p.Stop(t, 10*time.Second)
		}
	})
	return pl
}

func (pl *plugin) start(t testing.TB) {
	t.Helper()
	before := len(readFile(pl.log))
	pl.p = fixture.StartProcess(t, "rro-nri", pl.log, nil, pl.args...)
	pl.waitStarted(t, before)
}

// waitStarted waits, after offset, for the stub's "Started plugin" line
// and for the plugin's report of its Synchronize: the stub logs the
// first before containerd has sent the second, and a test that reads the
// report right after "Started plugin" races it (seen once under load).
func (pl *plugin) waitStarted(t testing.TB, offset int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		log := readFile(pl.log)
		since := log[min(offset, len(log)):]
		if strings.Contains(since, "Started plugin") && strings.Contains(since, "rro-nri: synchronized with") {
			return
		}
		if pl.p.Exited() {
			t.Fatalf("rro-nri exited:\n%s", tail(log, 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("rro-nri did not register within 30s:\n%s", tail(log, 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// pod is a CRI pod sandbox on the host network (no CNI here).
type pod struct {
	c       *cd2
	dir     string
	podJSON string
	ID      string
	n       int
}

func runPod(t testing.TB, c *cd2, name, handler string, annotations map[string]string) (*pod, error) {
	t.Helper()
	dir := t.TempDir()
	p := &pod{c: c, dir: dir, podJSON: filepath.Join(dir, "pod.json")}
	cfg := map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "default", "uid": name + "-uid", "attempt": 0},
		"log_directory": filepath.Join(dir, "logs"),
		"linux": map[string]any{"security_context": map[string]any{
			"namespace_options": map[string]any{"network": 2},
		}},
	}
	if annotations != nil {
		cfg["annotations"] = annotations
	}
	writeJSON(t, p.podJSON, cfg)
	args := []string{"runp"}
	if handler != "" {
		args = append(args, "--runtime", handler)
	}
	out, err := c.crictl(append(args, p.podJSON)...)
	if err != nil {
		return nil, fmt.Errorf("crictl runp: %w\n%s", err, out)
	}
	p.ID = strings.TrimSpace(out)
	t.Cleanup(func() {
		_, _ = c.crictl("stopp", p.ID)
		_, _ = c.crictl("rmp", "--force", p.ID)
	})
	return p, nil
}

// volume is one CRI mount of a container.
type volume map[string]any

// roVol is host directory h mounted read-only at /vol.
func roVol(h string) volume {
	return volume{"container_path": "/vol", "host_path": h, "readonly": true}
}

func (p *pod) create(t testing.TB, name string, vols []volume, args ...string) (string, error) {
	t.Helper()
	p.n++
	ctr := map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": fixture.ImageRefFull},
		"command":  args,
		"log_path": fmt.Sprintf("%s-%d.log", name, p.n),
		"linux":    map[string]any{},
	}
	if len(vols) > 0 {
		ctr["mounts"] = vols
	}
	path := filepath.Join(p.dir, fmt.Sprintf("ctr-%s-%d.json", name, p.n))
	writeJSON(t, path, ctr)
	out, err := p.c.crictl("create", p.ID, path, p.podJSON)
	if err != nil {
		return "", fmt.Errorf("crictl create: %w\n%s", err, out)
	}
	return strings.TrimSpace(out), nil
}

// probe runs the probe script with vols and returns its output and the
// container's org.rro-runc.applied annotation ("" when absent).
func (p *pod) probe(t testing.TB, vols []volume) (out, applied string, err error) {
	t.Helper()
	id, err := p.create(t, "probe", vols, probeArgs...)
	if err != nil {
		return "", "", err
	}
	if o, err := p.c.crictl("start", id); err != nil {
		return "", "", fmt.Errorf("crictl start: %w\n%s", err, o)
	}
	p.c.waitFor(t, "probe container to exit", func() error {
		s, err := p.c.crictl("inspect", "-o", "go-template", "--template", "{{.status.state}}", id)
		if err != nil || strings.TrimSpace(s) != "CONTAINER_EXITED" {
			return fmt.Errorf("state %q: %v", strings.TrimSpace(s), err)
		}
		return nil
	})
	js, err := p.c.crictl("inspect", "-o", "json", id)
	if err != nil {
		return "", "", fmt.Errorf("crictl inspect: %w\n%s", err, js)
	}
	var info struct {
		Info struct {
			RuntimeSpec struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"runtimeSpec"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(js), &info); err != nil {
		return "", "", fmt.Errorf("crictl inspect: %w", err)
	}
	logs, err := p.c.crictl("logs", id)
	_, _ = p.c.crictl("rm", id)
	return logs, info.Info.RuntimeSpec.Annotations["org.rro-runc.applied"], err
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeConf writes an rro-runc configuration file, read by the wrapper and
// the plugin alike on every container.
func writeConf(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
