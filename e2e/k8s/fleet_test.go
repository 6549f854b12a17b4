//go:build k8s

package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
	"github.com/rro-runc/rro-runc/internal/treesnap"
)

// imageRef is the installer image's name in deploy/, and so in the tests.
const imageRef = "rro-runc/rro-runc:latest"

var (
	nriOnce sync.Once
	nriBin  string
	nriErr  error
)

// rroNRI builds cmd/rro-nri once per test process into <repo>/.cache/e2e-bin.
func rroNRI(t testing.TB) string {
	t.Helper()
	root := fixture.ModuleRoot(t)
	nriOnce.Do(func() {
		dir := filepath.Join(root, ".cache", "e2e-bin")
		if nriErr = os.MkdirAll(dir, 0o755); nriErr != nil {
			return
		}
		tmp := filepath.Join(dir, "rro-nri.tmp."+filepath.Base(t.TempDir()))
		_, nriErr = command(10*time.Minute, []string{"CGO_ENABLED=0"}, "", "sh", "-c", `cd "$0" && exec go build -trimpath -o "$1" ./cmd/rro-nri`, root, tmp)
		if nriErr == nil {
			nriBin = filepath.Join(dir, "rro-nri")
			nriErr = os.Rename(tmp, nriBin)
		}
	})
	if nriErr != nil {
		t.Fatalf("building cmd/rro-nri: %v", nriErr)
	}
	return nriBin
}

// importImage builds the installer image from this tree's binaries with
// the tool `make image` runs (internal/imagetar/mkimage) and imports it
// into the node's containerd, where imagePullPolicy IfNotPresent finds it:
// nothing is pulled.
func (c *cluster) importImage(t testing.TB) {
	t.Helper()
	rroRunc, rroctl := fixture.Binaries(t)
	tar := filepath.Join(c.Dir, "rro-runc-image.tar")
	root := fixture.ModuleRoot(t)
	if out, err := command(10*time.Minute, nil, "", "sh", "-c", `cd "$0" && shift && exec go run ./internal/imagetar/mkimage "$@"`,
		root, "x", "-o", tar, "-tag", imageRef, rroRunc, rroctl, rroNRI(t)); err != nil {
		t.Fatalf("mkimage: %v\n%s", err, out)
	}
	if out, err := c.Runtime.Ctr("k8s.io", "image", "import", tar); err != nil {
		t.Fatalf("ctr image import %s: %v\n%s", tar, err, out)
	}
}

// overlay is a deploy/ manifest as a test applies it: a text edit per
// pair, each of which must apply, so a manifest that changes under the
// test fails it instead of being silently applied unmodified.
func overlay(t testing.TB, file string, pairs ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixture.ModuleRoot(t), "deploy", file))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("overlay of deploy/%s: %q not found", file, pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// nodeOverlay points a DaemonSet of deploy/ at the test's node: its host
// root volume is nodeRoot instead of /, the engine restart is the test's
// (--restart=none: no systemd here, and hostPID is then not needed), and
// it tolerates the node's NotReady taint (no CNI here).
func nodeOverlay(t testing.TB, file, nodeRoot string) string {
	t.Helper()
	return overlay(t, file,
		"--restart=systemd", "--restart=none",
		"hostPID: true", "hostPID: false",
		"      containers:\n", "      tolerations:\n        - operator: Exists\n      containers:\n",
		"path: /\n", "path: "+nodeRoot+"\n")
}

// tree is treesnap.Take without inodes, failing t on error: what "the
// node as it was" means.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	m, err := treesnap.Take(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitFile polls until cond holds for the file's content.
func waitFile(t testing.TB, path, what string, cond func(string) bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		b, _ := os.ReadFile(path)
		if cond(string(b)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never happened; %s is:\n%s\n%s", path, what, path, b, diag())
		}
		time.Sleep(time.Second)
	}
}

// TestFleetRollout installs rro-runc on the node with deploy/'s DaemonSet,
// as a cluster operator would, then uninstalls it with deploy/'s other
// DaemonSet. The node is a directory standing for the node's root; its
// containerd runs on that directory's config and /usr/local/bin.
func TestFleetRollout(t *testing.T) {
	vol := fixture.NestedVolume(t) // before containerd's mount namespace exists
	nodeRoot := filepath.Join(fixture.ShortTempDir(t), "node")
	track(nodeRoot)
	writeFile(t, filepath.Join(nodeRoot, "usr/local/bin/node-tool"), "#!/bin/sh\necho the node's own tool\n", 0o755)
	c := startCluster(t, runtimeOptions{NodeRoot: nodeRoot}, nil)
	before := tree(t, nodeRoot)
	origConfig, _ := os.ReadFile(c.Runtime.Config)
	c.importImage(t)
	kubectlApply := func(what, manifest string) {
		t.Helper()
		if out, err := c.KubectlIn(manifest, "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply %s: %v\n%s", what, err, out)
		} else {
			t.Logf("kubectl apply -f %s:\n%s", what, out)
		}
	}
	logs := func(ds string) string {
		out, err := c.Kubectl("-n", "rro-runc-system", "logs", "ds/"+ds)
		if err != nil {
			return err.Error()
		}
		return out
	}

	// An operator's steps: namespace, label the node, the DaemonSet.
	rc, err := os.ReadFile(filepath.Join(fixture.ModuleRoot(t), "deploy", "namespace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kubectlApply("deploy/namespace.yaml", string(rc))
	if out, err := c.Kubectl("label", "node", c.Node, "rro-runc.io/enabled=true"); err != nil {
		t.Fatalf("kubectl label node: %v\n%s", err, out)
	}
	kubectlApply("deploy/rro-runc-install.yaml (test overlay)", nodeOverlay(t, "rro-runc-install.yaml", nodeRoot))
	waitFile(t, c.Runtime.Config, "the rro handler in containerd's config", func(s string) bool {
		return strings.Contains(s, `BinaryName = "/usr/local/bin/rro-runc"`)
	}, func() string {
		d, _ := c.Kubectl("-n", "rro-runc-system", "describe", "pods")
		return logs("rro-runc-install") + "\n" + d
	})
	if _, err := os.Stat(filepath.Join(nodeRoot, "usr/local/bin/rro-runc")); err != nil {
		t.Fatalf("rro-runc not installed on the node: %v", err)
	}
	time.Sleep(2 * time.Second) // the log line after the config write
	t.Logf("kubectl -n rro-runc-system logs ds/rro-runc-install:\n%s", logs("rro-runc-install"))
	// --restart=none: the installer printed the restart; the test does it.
	c.Runtime.Restart(t)

	t.Run("a pod with runtimeClassName rro is protected", func(t *testing.T) {
		out, s := c.runProbe(t, probePod{Name: "fleet-rro", RuntimeClass: "rro", Vol: vol})
		fixture.CheckProbe(t, out, fixture.WantRRO)
		if b := c.bundle(t, containerID(t, s)); !strings.Contains(b.Applied, "/vol") {
			t.Errorf("org.rro-runc.applied = %q, want /vol", b.Applied)
		}
	})
	t.Run("a pod without it is not", func(t *testing.T) {
		out, _ := c.runProbe(t, probePod{Name: "fleet-plain", Vol: vol})
		fixture.CheckProbe(t, out, fixture.WantPlain)
	})
	if t.Failed() {
		return
	}

	// Uninstall from the fleet: remove the installer, run the uninstaller.
	if out, err := c.Kubectl("-n", "rro-runc-system", "delete", "daemonset", "rro-runc-install", "--timeout=2m"); err != nil {
		t.Fatalf("kubectl delete daemonset rro-runc-install: %v\n%s", err, out)
	}
	kubectlApply("deploy/rro-runc-uninstall.yaml (test overlay)", nodeOverlay(t, "rro-runc-uninstall.yaml", nodeRoot))
	waitFile(t, c.Runtime.Config, "containerd's config back to the original", func(s string) bool {
		return s == string(origConfig)
	}, func() string { return logs("rro-runc-uninstall") })
	waitFile(t, filepath.Join(nodeRoot, "usr/local/bin/rro-runc"), "rro-runc removed", func(s string) bool {
		_, err := os.Stat(filepath.Join(nodeRoot, "usr/local/bin/rro-runc"))
		return os.IsNotExist(err)
	}, func() string { return logs("rro-runc-uninstall") })
	time.Sleep(2 * time.Second)
	t.Logf("kubectl -n rro-runc-system logs ds/rro-runc-uninstall:\n%s", logs("rro-runc-uninstall"))
	if out, err := c.Kubectl("-n", "rro-runc-system", "delete", "daemonset", "rro-runc-uninstall", "--timeout=2m"); err != nil {
		t.Fatalf("kubectl delete daemonset rro-runc-uninstall: %v\n%s", err, out)
	}
	c.Runtime.Restart(t)
	// The installer wrote config.toml and nobody edited it, so the
	// uninstaller takes it too: the node's root is as it was, file by file.
	if d := treesnap.Diff(before, tree(t, nodeRoot)); len(d) > 0 {
		t.Errorf("after uninstall the node root differs from before install:\n%s", strings.Join(d, "\n"))
	}
	out, _ := exec.Command("ls", "-la", filepath.Join(nodeRoot, "usr/local/bin")).CombinedOutput()
	t.Logf("node's /usr/local/bin after uninstall:\n%s", out)
}
