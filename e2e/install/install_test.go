package install

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
	"github.com/rro-runc/rro-runc/internal/treesnap"
)

func TestMain(m *testing.M) { fixture.Main(m) }

// installerImage builds the installer image tarball exactly as make image
// does (internal/imagetar/mkimage over the binaries under test), tagged
// with the Makefile's IMAGE, and returns its path and tag.
func installerImage(t *testing.T) (tarball, tag string) {
	t.Helper()
	root := fixture.ModuleRoot(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMAGE \?= (\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no IMAGE ?= in the Makefile")
	}
	tag = string(m[1])
	rroRunc, rroctl := fixture.Binaries(t)
	tarball = filepath.Join(t.TempDir(), "rro-runc-image.tar")
	cmd := exec.Command("go", "run", "./internal/imagetar/mkimage", "-o", tarball, "-tag", tag, rroRunc, rroctl)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v\n%s", err, out)
	}
	return tarball, tag
}

// binDir is a directory holding only the rro-runc and rroctl under test,
// as make build leaves bin/.
func binDir(t *testing.T) string {
	t.Helper()
	rroRunc, rroctl := fixture.Binaries(t)
	dir := t.TempDir()
	for _, b := range []string{rroRunc, rroctl} {
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(b)), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tree is treesnap.Take without inodes, failing t on error.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	m, err := treesnap.Take(root, false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func listing(m map[string]string) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s %s\n", m[k], k)
	}
	return b.String()
}

// TestInstallerImageOnNode is the fleet install, end to end, on one node.
func TestInstallerImageOnNode(t *testing.T) {
	fixture.RequireRoot(t)
	containerd2Bin(t)
	fixture.Crictl(t)
	tarball, tag := installerImage(t)

	// The node: its own containerd config (with a comment) and bin dir
	// (with a tool that is not ours).
	node := fixture.ShortTempDir(t)
	w := fixture.ShortTempDir(t)
	nodeConfig := filepath.Join(node, "etc/containerd/config.toml")
	for p, data := range map[string]string{
		nodeConfig: nodeContainerdConfig(w),
		filepath.Join(node, "usr/local/bin/node-tool"): "#!/bin/sh\necho the node's own tool\n",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := tree(t, node)
	configBefore, _ := os.ReadFile(nodeConfig)

	// The installer, as the DaemonSet runs it: the image, the node's root
	// at /host.
	d := fixture.NewDocker(t)
	d.Start(t)
	if out, err := d.Docker("load", "-i", tarball); err != nil || !strings.Contains(out, "Loaded image: "+tag) {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	runInstaller := func(args ...string) string {
		t.Helper()
		out, err := d.Docker(append([]string{"run", "--rm", "--network", "none", "-v", node + ":/host", tag}, args...)...)
		if err != nil {
			t.Fatalf("docker run %s %s: %v\n%s", tag, strings.Join(args, " "), err, out)
		}
		t.Logf("docker run %s %s:\n%s", tag, strings.Join(args, " "), out)
		return out
	}
	out := runInstaller("install", "--host-root", "/host", "--engine", "containerd", "--policy", "Enabled")
	for _, want := range []string{
		"installed /usr/local/bin/rro-runc\n", "installed /usr/local/bin/rroctl\n",
		"wrote /etc/rro-runc/config.toml (policy Enabled)\n",
		`configured containerd runtime "rro" in /etc/containerd/config.toml (BinaryName /usr/local/bin/rro-runc)` + "\n",
		"to apply, run on the host: systemctl restart containerd\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q", want)
		}
	}
	cfg, _ := os.ReadFile(nodeConfig)
	if !strings.Contains(string(cfg), `BinaryName = "/usr/local/bin/rro-runc"`) || strings.Contains(string(cfg), "/host") ||
		!strings.HasPrefix(string(cfg), "# containerd 2.x of this node (e2e/install): the admin's comments stay.\n") {
		t.Errorf("node's containerd config after install:\n%s", cfg)
	}
	if out := runInstaller("install", "--host-root", "/host", "--engine", "containerd"); !strings.HasSuffix(out, "no change: already installed\n") {
		t.Errorf("second install did not say it changed nothing")
	}

	// The node's containerd on the installed config; rro-runc reads the
	// installed config.toml (the node's /etc is not this machine's). The
	// volume's submounts exist before containerd's private mount
	// namespace is made, as on a node whose mounts predate the pods.
	vol := fixture.NestedVolume(t)
	c := startContainerd2(t, w, node, "RRO_RUNC_CONFIG="+filepath.Join(node, "etc/rro-runc/config.toml"))
	if out, err := c.ctr("rro-e2e", "image", "import", tarball); err != nil {
		t.Fatalf("ctr image import of the installer image: %v\n%s", err, out)
	}
	if out, _ := c.ctr("rro-e2e", "image", "ls", "-q"); !strings.Contains(out, "docker.io/"+tag) {
		t.Errorf("ctr image ls after importing the installer image: %q", out)
	}
	for _, tc := range []struct {
		handler string
		want    map[string]bool
	}{
		{"rro", fixture.WantRRO}, // the installed handler
		{"", fixture.WantPlain},  // the control: containerd's runc
	} {
		name := "handler-" + tc.handler
		if tc.handler == "" {
			name = "handler-default"
		}
		t.Run(name, func(t *testing.T) {
			out := runPod(t, c, name, tc.handler, vol)
			fixture.CheckProbe(t, out, tc.want)
		})
	}

	// Uninstall: the node comes back as it was.
	c.stop(t)
	out = runInstaller("uninstall", "--host-root", "/host", "--engine", "containerd", "--purge")
	if !strings.Contains(out, "restored /etc/containerd/config.toml as it was before install") {
		t.Errorf("uninstall output lacks the restore")
	}
	if cfg, _ := os.ReadFile(nodeConfig); string(cfg) != string(configBefore) {
		t.Errorf("containerd config after uninstall differs from before install:\n%s", cfg)
	}
	after := tree(t, node)
	if d := treesnap.Diff(before, after); len(d) > 0 {
		t.Errorf("node root after uninstall differs from before install:\n%s", strings.Join(d, "\n"))
	}
	t.Logf("node root before install and after uninstall:\n%s", listing(after))
}

// runPod runs a pod through handler ("" = default) with a container that
// probes vol, mounted read-only at /vol, and returns the container's log.
func runPod(t *testing.T, c *containerd2, name, handler, vol string) string {
	t.Helper()
	dir := t.TempDir()
	podJSON := filepath.Join(dir, "pod.json")
	writeJSON(t, podJSON, map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "default", "uid": name + "-uid", "attempt": 0},
		"log_directory": filepath.Join(dir, "logs"),
		"linux": map[string]any{"security_context": map[string]any{
			"namespace_options": map[string]any{"network": 2}, // host network: no CNI here
		}},
	})
	args := []string{"runp"}
	if handler != "" {
		args = append(args, "--runtime", handler)
	}
	out, err := c.crictl(append(args, podJSON)...)
	if err != nil {
		t.Fatalf("crictl runp: %v\n%s\n%s", err, out, c.log())
	}
	pod := strings.TrimSpace(out)
	t.Cleanup(func() {
		_, _ = c.crictl("stopp", pod)
		_, _ = c.crictl("rmp", "--force", pod)
	})
	ctrJSON := filepath.Join(dir, "ctr.json")
	writeJSON(t, ctrJSON, map[string]any{
		"metadata": map[string]any{"name": "probe"},
		"image":    map[string]any{"image": fixture.ImageRefFull},
		"command":  []string{"/bin/sh", "-c", fixture.ProbeScript},
		"log_path": "probe.log",
		"mounts":   []map[string]any{{"container_path": "/vol", "host_path": vol, "readonly": true}},
		"linux":    map[string]any{},
	})
	out, err = c.crictl("create", pod, ctrJSON, podJSON)
	if err != nil {
		t.Fatalf("crictl create: %v\n%s", err, out)
	}
	id := strings.TrimSpace(out)
	if out, err := c.crictl("start", id); err != nil {
		t.Fatalf("crictl start: %v\n%s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.crictl("inspect", "-o", "go-template", "--template", "{{.status.state}}", id)
		if err == nil && strings.TrimSpace(out) == "CONTAINER_EXITED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not exit: %s %v", id, out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, err = c.crictl("logs", id)
	if err != nil {
		t.Fatalf("crictl logs: %v\n%s", err, out)
	}
	t.Logf("pod %s (handler %q):\n%s", name, handler, out)
	return out
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
