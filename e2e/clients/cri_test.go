package clients

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// criPod is a pod sandbox on the host network: no CNI exists here.
type criPod struct {
	c        *fixture.Containerd
	dir      string
	podJSON  string
	ID       string
	nameSalt int
	// volFields are more fields of the /vol mount of createContainer,
	// e.g. "recursive_read_only": true.
	volFields map[string]any
}

// startCRIContainerd starts a containerd with the CRI plugin; configure
// edits its config.toml first (e.g. rroctl configure containerd).
func startCRIContainerd(t *testing.T, configure func(c *fixture.Containerd)) *fixture.Containerd {
	t.Helper()
	c := fixture.NewContainerd(t, true)
	if configure != nil {
		configure(c)
	}
	c.Start(t)
	ok(t)(c.CtrNS("k8s.io", "image", "import", fixture.ImageTar(t)))
	return c
}

// addCRIHandler appends a runtime handler to the CRI plugin's config.
func addCRIHandler(t *testing.T, c *fixture.Containerd, name, binary string) {
	t.Helper()
	f, err := os.OpenFile(c.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, `
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s.options]
    BinaryName = %q
    Root = %q
`, name, name, binary, filepath.Join(c.RuncRoot, name))
}

// runPod creates a pod sandbox with runtime handler handler ("" for the
// default). The sandbox itself runs through that handler too.
func runPod(t *testing.T, c *fixture.Containerd, name, handler string) (*criPod, error) {
	t.Helper()
	dir := t.TempDir()
	p := &criPod{c: c, dir: dir, podJSON: filepath.Join(dir, "pod.json")}
	writeJSON(t, p.podJSON, map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "default", "uid": name + "-uid", "attempt": 0},
		"log_directory": filepath.Join(dir, "logs"),
		"linux": map[string]any{"security_context": map[string]any{
			"namespace_options": map[string]any{"network": 2}, // NODE: host network
		}},
	})
	args := []string{"runp"}
	if handler != "" {
		args = append(args, "--runtime", handler)
	}
	out, err := c.Crictl(append(args, p.podJSON)...)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	p.ID = strings.TrimSpace(out)
	t.Cleanup(func() {
		_, _ = c.Crictl("stopp", p.ID)
		_, _ = c.Crictl("rmp", "--force", p.ID)
	})
	return p, nil
}

// createContainer creates (not starts) a container in the pod, with vol
// mounted read-only at /vol when vol is not "".
func (p *criPod) createContainer(t *testing.T, name, vol string, args ...string) (string, error) {
	t.Helper()
	p.nameSalt++
	ctr := map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": fixture.ImageRefFull},
		"command":  args,
		"log_path": fmt.Sprintf("%s-%d.log", name, p.nameSalt),
		"linux":    map[string]any{},
	}
	if vol != "" {
		m := map[string]any{"container_path": "/vol", "host_path": vol, "readonly": true}
		for k, v := range p.volFields {
			m[k] = v
		}
		ctr["mounts"] = []map[string]any{m}
	}
	ctrJSON := filepath.Join(p.dir, fmt.Sprintf("ctr-%s-%d.json", name, p.nameSalt))
	writeJSON(t, ctrJSON, ctr)
	out, err := p.c.Crictl("create", p.ID, ctrJSON, p.podJSON)
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	return strings.TrimSpace(out), nil
}

// runToCompletion creates and starts a container, waits until it exits
// and returns its logs.
func (p *criPod) runToCompletion(t *testing.T, name, vol string, args ...string) (string, error) {
	t.Helper()
	id, err := p.createContainer(t, name, vol, args...)
	if err != nil {
		return "", err
	}
	if out, err := p.c.Crictl("start", id); err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := p.c.Crictl("inspect", "-o", "go-template", "--template", "{{.status.state}}", id)
		if err == nil && strings.TrimSpace(out) == "CONTAINER_EXITED" {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("container %s did not exit: %s %v", id, out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p.c.Crictl("logs", id)
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

// criState is a container's CRI state, e.g. CONTAINER_RUNNING.
func criState(c *fixture.Containerd, id string) string {
	out, err := c.Crictl("inspect", "-o", "go-template", "--template", "{{.status.state}}", id)
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(out)
}

// TestContainerdCRI runs containerd's CRI plugin, what the kubelet talks
// to, driven by crictl: the handler `rro` installed by `rroctl configure
// containerd`, pods on the host network, `readonly: true` volumes.
func TestContainerdCRI(t *testing.T) {
	fixture.RequireRoot(t)
	conf := newWrapperConf(t)
	c := fixture.NewContainerd(t, true)
	c.Env = conf.env()
	configure(t, "containerd", c.Config, fixture.RroRunc(t))
	c.Start(t)
	criSuite(t, c, conf)
}

// criSuite is the crictl suite against a started containerd (1.6 or 2.x)
// whose CRI plugin has the handler "rro" and whose environment names conf.
func criSuite(t *testing.T, c *fixture.Containerd, conf *wrapperConf) {
	ok(t)(c.CtrNS("k8s.io", "image", "import", fixture.ImageTar(t)))
	vol := fixture.NestedVolume(t)
	// Where runc state may live: the handlers' roots under c.Dir, or
	// containerd's default when the handler sets no Root.
	stateDirs := []string{c.Dir, "/run/containerd/runc/k8s.io"}
	noStateLeft := func(t *testing.T, id string) {
		t.Helper()
		for _, d := range stateDirs {
			if left := runcStateLeft(t, d, id); len(left) > 0 {
				t.Errorf("runc state left behind: %v", left)
			}
		}
	}

	t.Run("plain runc leaves submounts writable", func(t *testing.T) {
		pod, err := runPod(t, c, "plain", "")
		if err != nil {
			t.Fatal(err)
		}
		fixture.CheckProbe(t, ok(t)(pod.runToCompletion(t, "probe", vol, probeArgs...)), fixture.WantPlain)
	})
	t.Run("rro-runc makes submounts read-only", func(t *testing.T) {
		pod, err := runPod(t, c, "rro", "rro")
		if err != nil {
			t.Fatal(err)
		}
		fixture.CheckProbe(t, ok(t)(pod.runToCompletion(t, "probe", vol, probeArgs...)), fixture.WantRRO)
	})
	t.Run("policy Enabled without rro fails visibly", func(t *testing.T) {
		pod, err := runPod(t, c, "enabled", "rro")
		if err != nil {
			t.Fatal(err)
		}
		conf.enabledWithoutRRO(t)
		id, err := pod.createContainer(t, "probe", vol, probeArgs...)
		if err != nil {
			t.Fatal(err)
		}
		// The CRI plugin creates the runtime's container on start.
		out, err := c.Crictl("start", id)
		wantWrapperError(t, out, err, "OCI runtime create failed: ")
		noStateLeft(t, id)
		if s := criState(c, id); s == "CONTAINER_RUNNING" {
			t.Errorf("container %s is %s", id, s)
		}
		ok(t)(c.Crictl("rm", id))
	})
	t.Run("exec, stop and remove through rro-runc", func(t *testing.T) {
		pod, err := runPod(t, c, "svc", "rro")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, name := range []string{"svc-stop", "svc-kill"} {
			id, err := pod.createContainer(t, name, vol, serviceArgs...)
			if err != nil {
				t.Fatal(err)
			}
			ok(t)(c.Crictl("start", id))
			waitFor(t, name+" running", func() (bool, string) { s := criState(c, id); return s == "CONTAINER_RUNNING", s })
			wantRuncState(t, id, stateDirs...)
			ids = append(ids, id)
		}
		fixture.CheckProbe(t, ok(t)(c.Crictl(append([]string{"exec", "--sync", ids[0]}, probeArgs...)...)), fixture.WantRRO)
		ok(t)(c.Crictl("stop", "--timeout", "20", ids[0])) // SIGTERM: the service exits
		ok(t)(c.Crictl("stop", "--timeout", "0", ids[1]))  // SIGKILL straight away
		for _, id := range ids {
			if s := criState(c, id); s != "CONTAINER_EXITED" {
				t.Errorf("container %s is %s after stop", id, s)
			}
			ok(t)(c.Crictl("rm", id))
			noStateLeft(t, id)
		}
		ok(t)(c.Crictl("stopp", pod.ID))
		ok(t)(c.Crictl("rmp", pod.ID))
		noStateLeft(t, pod.ID)
	})
}
