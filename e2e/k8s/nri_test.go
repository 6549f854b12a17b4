//go:build k8s

package k8s

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// TestNRIPlugin runs rro-nri as deploy/nri-daemonset.yaml's DaemonSet on a
// node whose containerd requires it (NRI's default validator with
// required_plugins), and pods on the default runc handler: no
// RuntimeClass, no wrapper.
func TestNRIPlugin(t *testing.T) {
	c := startCluster(t, runtimeOptions{NRIValidator: `enable = true
required_plugins = ["rro-nri"]
tolerate_missing_plugins_annotation = "rro-runc.io/tolerate-missing-plugins"`}, nil)
	vol := fixture.NestedVolume(t)
	c.importImage(t)
	ns := filepath.Join(fixture.ModuleRoot(t), "deploy", "namespace.yaml")
	if out, err := c.Kubectl("apply", "-f", ns); err != nil {
		t.Fatalf("kubectl apply -f deploy/namespace.yaml: %v\n%s", err, out)
	}
	if out, err := c.Kubectl("label", "node", c.Node, "rro-runc.io/nri=true"); err != nil {
		t.Fatalf("kubectl label node: %v\n%s", err, out)
	}
	// The node's NRI socket is the test containerd's, not /var/run/nri.
	manifest := overlay(t, "nri-daemonset.yaml",
		"--nri-socket=/var/run/nri/nri.sock", "--nri-socket="+c.Runtime.NRISocket())
	if out, err := c.KubectlIn(manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply deploy/nri-daemonset.yaml: %v\n%s", err, out)
	}
	c.waitLog(t, "kubectl -n rro-runc-system logs ds/rro-nri", func() string {
		out, _ := c.Kubectl("-n", "rro-runc-system", "logs", "ds/rro-nri")
		return out
	}, "Started plugin")
	out, _ := c.Kubectl("-n", "rro-runc-system", "logs", "ds/rro-nri")
	t.Logf("kubectl -n rro-runc-system logs ds/rro-nri:\n%s", out)

	t.Run("a pod on the default handler is protected", func(t *testing.T) {
		out, s := c.runProbe(t, probePod{Name: "nri-default", Vol: vol})
		fixture.CheckProbe(t, out, fixture.WantRRO)
		b := c.bundle(t, containerID(t, s))
		if !has(b.Options, "rro") || !strings.Contains(b.Applied, "/vol") {
			t.Errorf("config.json: /vol options %q, org.rro-runc.applied %q: want rro from the plugin", b.Options, b.Applied)
		}
		t.Logf("probe:\n%s/vol options %q, org.rro-runc.applied %q, status recursiveReadOnly %q", out, b.Options, b.Applied, volStatus(t, s))
	})
	if t.Failed() {
		return
	}

	t.Run("with the plugin stopped, required_plugins refuses new pods visibly", func(t *testing.T) {
		if out, err := c.Kubectl("-n", "rro-runc-system", "delete", "daemonset", "rro-nri", "--timeout=2m"); err != nil {
			t.Fatalf("kubectl delete daemonset rro-nri: %v\n%s", err, out)
		}
		if out, err := c.Kubectl("-n", "rro-runc-system", "wait", "--for=delete", "pod", "-l", "app.kubernetes.io/name=rro-nri", "--timeout=2m"); err != nil {
			t.Fatalf("rro-nri's pod does not go: %v\n%s", err, out)
		}
		p := probePod{Name: "nri-stopped", Vol: vol}
		c.apply(t, p)
		desc := c.waitDescribe(t, p.Name, "required plugin")
		if !strings.Contains(desc, "rro-nri") {
			t.Errorf("kubectl describe pod does not name the missing plugin:\n%s", desc)
		}
		if s := c.status(t, p.Name); s.Status.Phase == "Running" {
			t.Errorf("pod is Running with the required plugin stopped")
		}
		t.Logf("kubectl describe pod %s:\n%s", p.Name, desc)
	})
}

// waitLog polls get until its output contains want.
func (c *cluster) waitLog(t *testing.T, what string, get func() string, want string) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for !strings.Contains(get(), want) {
		if time.Now().After(deadline) {
			d, _ := c.Kubectl("-n", "rro-runc-system", "describe", "pods")
			t.Fatalf("%s never showed %q\n%s", what, want, d)
		}
		time.Sleep(time.Second)
	}
}
