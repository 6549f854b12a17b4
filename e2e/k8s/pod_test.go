//go:build k8s

package k8s

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// probePod is a pod on the host network (there is no CNI) that mounts a
// hostPath volume read-only at /vol, runs fixture.ProbeScript, prints
// PROBE-DONE and sleeps, so that its container's bundle can be read while
// it runs.
type probePod struct {
	Name              string
	RuntimeClass      string // "" for the node's default handler
	RecursiveReadOnly string // volumeMounts[].recursiveReadOnly, "" for unset
	Annotations       map[string]string
	Vol               string // host directory
}

const probeDone = "PROBE-DONE"

// Manifest is the pod as YAML, what a user would kubectl apply.
func (p probePod) Manifest() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n", p.Name)
	if len(p.Annotations) > 0 {
		b.WriteString("  annotations:\n")
		keys := make([]string, 0, len(p.Annotations))
		for k := range p.Annotations {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "    %s: %q\n", k, p.Annotations[k])
		}
	}
	b.WriteString("spec:\n")
	if p.RuntimeClass != "" {
		fmt.Fprintf(&b, "  runtimeClassName: %s\n", p.RuntimeClass)
	}
	b.WriteString(`  hostNetwork: true            # no CNI on this node
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  tolerations:
  - operator: Exists            # the node stays NotReady without CNI
  containers:
  - name: probe
    image: ` + fixture.ImageRefFull + `
    imagePullPolicy: Never
    command:
    - /bin/sh
    - -c
    - |
`)
	// The kubelet expands $(VAR) in commands and turns $$ into $: the
	// probe's file name must not use the shell's $$.
	script := strings.ReplaceAll(fixture.ProbeScript, "$$", "k8s")
	for _, line := range strings.Split(script+"\necho "+probeDone+"\nexec sleep 3600", "\n") {
		b.WriteString("      " + line + "\n")
	}
	b.WriteString("    volumeMounts:\n    - name: vol\n      mountPath: /vol\n      readOnly: true\n")
	if p.RecursiveReadOnly != "" {
		fmt.Fprintf(&b, "      recursiveReadOnly: %s\n", p.RecursiveReadOnly)
	}
	fmt.Fprintf(&b, "  volumes:\n  - name: vol\n    hostPath:\n      path: %s\n      type: Directory\n", p.Vol)
	return b.String()
}

// podStatus is the part of a pod's status the tests read.
type podStatus struct {
	Metadata struct {
		UID string `json:"uid"`
	} `json:"metadata"`
	Status struct {
		Phase             string `json:"phase"`
		ContainerStatuses []struct {
			Name        string `json:"name"`
			ContainerID string `json:"containerID"`
			State       map[string]struct {
				Reason  string `json:"reason"`
				Message string `json:"message"`
			} `json:"state"`
			VolumeMounts []struct {
				MountPath         string `json:"mountPath"`
				ReadOnly          bool   `json:"readOnly"`
				RecursiveReadOnly string `json:"recursiveReadOnly"`
			} `json:"volumeMounts"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// apply creates the pod and deletes it when the (sub)test ends.
func (c *cluster) apply(t *testing.T, p probePod) {
	t.Helper()
	manifest := filepath.Join(c.Dir, p.Name+".yaml")
	writeFile(t, manifest, p.Manifest(), 0o644)
	if out, err := c.Kubectl("apply", "-f", manifest); err != nil {
		t.Fatalf("kubectl apply -f %s: %v\n%s", manifest, err, out)
	}
	t.Cleanup(func() {
		if out, err := c.Kubectl("delete", "pod", p.Name, "--grace-period=1", "--timeout=2m"); err != nil {
			t.Logf("cleanup: kubectl delete pod %s: %v\n%s", p.Name, err, out)
		}
	})
}

func (c *cluster) status(t *testing.T, name string) podStatus {
	t.Helper()
	var s podStatus
	out, err := c.Kubectl("get", "pod", name, "-o", "json")
	if err != nil {
		t.Fatalf("kubectl get pod %s: %v", name, err)
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("kubectl get pod %s -o json: %v", name, err)
	}
	return s
}

// logs is the probe container's output: kubectl logs (the apiserver asks
// the kubelet on 127.0.0.1), or else the kubelet's log file.
func (c *cluster) logs(t *testing.T, name string) string {
	t.Helper()
	if out, err := c.Kubectl("logs", name); err == nil {
		return out
	}
	files, _ := filepath.Glob(filepath.Join(c.PodLogs, "default_"+name+"_*", "probe", "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(data), "\n") {
			// CRI log format: TIME STREAM TAG MESSAGE
			if parts := strings.SplitN(line, " ", 4); len(parts) == 4 {
				b.WriteString(parts[3] + "\n")
			}
		}
	}
	return b.String()
}

// runProbe applies p, waits until its probe has run, and returns the
// probe's output and the pod's status. It fails the test, with kubectl
// describe's output, when the container does not start.
func (c *cluster) runProbe(t *testing.T, p probePod) (string, podStatus) {
	t.Helper()
	c.apply(t, p)
	deadline := time.Now().Add(4 * time.Minute)
	for {
		s := c.status(t, p.Name)
		if s.Status.Phase == "Running" {
			if out := c.logs(t, p.Name); strings.Contains(out, probeDone) {
				return out, c.status(t, p.Name)
			}
		}
		for _, cs := range s.Status.ContainerStatuses {
			if w, ok := cs.State["waiting"]; ok && (strings.Contains(w.Reason, "Error") || strings.Contains(w.Reason, "BackOff")) {
				desc, _ := c.Kubectl("describe", "pod", p.Name)
				t.Fatalf("pod %s does not start: %s: %s\n%s", p.Name, w.Reason, w.Message, desc)
			}
		}
		if s.Status.Phase == "Failed" || s.Status.Phase == "Succeeded" || time.Now().After(deadline) {
			desc, _ := c.Kubectl("describe", "pod", p.Name)
			t.Fatalf("pod %s is %s, no %s in its log:\n%s\n%s", p.Name, s.Status.Phase, probeDone, c.logs(t, p.Name), desc)
		}
		time.Sleep(time.Second)
	}
}

// waitDescribe polls kubectl describe pod until its output contains want,
// and returns that output.
func (c *cluster) waitDescribe(t *testing.T, name, want string) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := c.Kubectl("describe", "pod", name)
		if err == nil && strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl describe pod %s never showed %q:\n%s%v", name, want, out, err)
		}
		time.Sleep(time.Second)
	}
}

// containerID is the runtime's id of the pod's probe container.
func containerID(t *testing.T, s podStatus) string {
	t.Helper()
	for _, cs := range s.Status.ContainerStatuses {
		if id, ok := strings.CutPrefix(cs.ContainerID, "containerd://"); ok && id != "" {
			return id
		}
	}
	t.Fatalf("no containerd container id in the pod's status: %+v", s.Status.ContainerStatuses)
	return ""
}

// volStatus is what the pod's status reports for /vol's recursiveReadOnly.
func volStatus(t *testing.T, s podStatus) string {
	t.Helper()
	for _, cs := range s.Status.ContainerStatuses {
		for _, m := range cs.VolumeMounts {
			if m.MountPath == "/vol" {
				return m.RecursiveReadOnly
			}
		}
	}
	t.Fatalf("no /vol in the pod's status volumeMounts: %+v", s.Status.ContainerStatuses)
	return ""
}

// bundleSpec is the part of the config.json the runtime got that the
// tests read: /vol's options and rro-runc's annotation.
type bundleSpec struct {
	Options []string
	Applied string
	HasAnn  bool
}

func (c *cluster) bundle(t *testing.T, id string) bundleSpec {
	t.Helper()
	data, err := os.ReadFile(c.Runtime.Bundle(id))
	if err != nil {
		t.Fatalf("the running container's config.json: %v", err)
	}
	var spec struct {
		Mounts []struct {
			Destination string   `json:"destination"`
			Options     []string `json:"options"`
		} `json:"mounts"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatalf("%s: %v", c.Runtime.Bundle(id), err)
	}
	var b bundleSpec
	for _, m := range spec.Mounts {
		if m.Destination == "/vol" {
			b.Options = m.Options
		}
	}
	b.Applied, b.HasAnn = spec.Annotations["org.rro-runc.applied"]
	return b
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// configureRro installs the rro handler with rroctl configure containerd,
// exactly as README tells an operator, keeping its runc state under the
// test's directory.
func configureRro(t testing.TB, r *nodeRuntime) {
	t.Helper()
	rroRunc, rroctl := fixture.Binaries(t)
	argv := []string{rroctl, "configure", "containerd", "--config", r.Config, "--binary", rroRunc, "--runc-root", filepath.Join(r.RuncRoot, "rro")}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// TestPods runs pods through the kubelet on containerd 2.4.2 with the rro
// handler that rroctl configure containerd writes, and records what
// Kubernetes reports about each.
func TestPods(t *testing.T) {
	c := startCluster(t, runtimeOptions{}, func(r *nodeRuntime) { configureRro(t, r) })
	vol := fixture.NestedVolume(t)
	// deploy/runtimeclass.yaml schedules rro pods onto nodes labelled as
	// having rro-runc, as the fleet installer's nodes are.
	if out, err := c.Kubectl("label", "node", c.Node, "rro-runc.io/enabled=true"); err != nil {
		t.Fatalf("kubectl label node: %v\n%s", err, out)
	}
	if out, err := c.Kubectl("get", "node", c.Node, "-o", "jsonpath={.status.runtimeHandlers}"); err == nil {
		t.Logf("kubectl get node %s -o jsonpath={.status.runtimeHandlers}: %s", c.Node, out)
	}

	t.Run("runtimeClassName rro makes submounts read-only", func(t *testing.T) {
		out, s := c.runProbe(t, probePod{Name: "rro", RuntimeClass: "rro", Vol: vol})
		fixture.CheckProbe(t, out, fixture.WantRRO)
		b := c.bundle(t, containerID(t, s))
		if !has(b.Options, "rro") || !strings.Contains(b.Applied, "/vol") {
			t.Errorf("config.json: /vol options %q, org.rro-runc.applied %q: want rro from rro-runc", b.Options, b.Applied)
		}
		// The kubelet computes this from the pod spec, not from the runtime.
		if got := volStatus(t, s); got != "Disabled" {
			t.Errorf("status recursiveReadOnly = %q, want Disabled", got)
		}
		t.Logf("probe:\n%s/vol options %q, org.rro-runc.applied %q, status recursiveReadOnly %q", out, b.Options, b.Applied, volStatus(t, s))
	})

	t.Run("the default handler leaves submounts writable", func(t *testing.T) {
		out, s := c.runProbe(t, probePod{Name: "plain", Vol: vol})
		fixture.CheckProbe(t, out, fixture.WantPlain)
		b := c.bundle(t, containerID(t, s))
		if has(b.Options, "rro") || b.HasAnn {
			t.Errorf("config.json: /vol options %q, org.rro-runc.applied %q: want plain ro, no rro-runc", b.Options, b.Applied)
		}
		if got := volStatus(t, s); got != "Disabled" {
			t.Errorf("status recursiveReadOnly = %q, want Disabled", got)
		}
		t.Logf("probe:\n%s/vol options %q, status recursiveReadOnly %q", out, b.Options, volStatus(t, s))
	})

	t.Run("recursiveReadOnly Enabled gets containerd's rro and rro-runc leaves it alone", func(t *testing.T) {
		out, s := c.runProbe(t, probePod{Name: "k8s-rro", RuntimeClass: "rro", RecursiveReadOnly: "Enabled", Vol: vol})
		fixture.CheckProbe(t, out, fixture.WantRRO)
		b := c.bundle(t, containerID(t, s))
		if !has(b.Options, "rro") {
			t.Errorf("config.json: /vol options %q: want containerd's rro", b.Options)
		}
		if strings.Contains(b.Applied, "/vol") {
			t.Errorf("org.rro-runc.applied = %q: rro-runc claims a mount containerd already made rro", b.Applied)
		}
		if got := volStatus(t, s); got != "Enabled" {
			t.Errorf("status recursiveReadOnly = %q, want Enabled", got)
		}
		t.Logf("probe:\n%s/vol options %q, org.rro-runc.applied %q (present %v), status recursiveReadOnly %q", out, b.Options, b.Applied, b.HasAnn, volStatus(t, s))
	})

	t.Run("policy Enabled without rro support: kubectl describe pod shows rro-runc's message", func(t *testing.T) {
		c.Runtime.SetWrapperConfig(t, "Enabled", fixture.FakeRuntimeNoRRO(t), false)
		t.Cleanup(func() { c.Runtime.SetWrapperConfig(t, "IfPossible", fixture.Runc(t), false) })
		p := probePod{Name: "enabled-no-rro", RuntimeClass: "rro", Vol: vol}
		c.apply(t, p)
		desc := c.waitDescribe(t, p.Name, "rro-runc: ")
		if !strings.Contains(desc, "OCI runtime create failed: rro-runc: ") || !strings.Contains(strings.ToLower(desc), "enabled") {
			t.Errorf("kubectl describe pod lacks rro-runc's policy Enabled message:\n%s", desc)
		}
		if s := c.status(t, p.Name); s.Status.Phase == "Running" || s.Status.Phase == "Succeeded" {
			t.Errorf("pod is %s under policy Enabled without rro support", s.Status.Phase)
		}
		t.Logf("kubectl describe pod %s:\n%s", p.Name, desc)
	})

	t.Run("pod annotation org.rro-runc.policy reaches rro-runc", func(t *testing.T) {
		// IfPossible over a runtime without rro: a pod runs unprotected,
		// the same pod asking for Enabled is refused.
		c.Runtime.SetWrapperConfig(t, "IfPossible", fixture.FakeRuntimeNoRRO(t), false)
		t.Cleanup(func() { c.Runtime.SetWrapperConfig(t, "IfPossible", fixture.Runc(t), false) })
		out, _ := c.runProbe(t, probePod{Name: "ifpossible-no-rro", RuntimeClass: "rro", Vol: vol})
		fixture.CheckProbe(t, out, fixture.WantPlain)
		p := probePod{Name: "annotation-enabled", RuntimeClass: "rro", Vol: vol,
			Annotations: map[string]string{"org.rro-runc.policy": "Enabled"}}
		c.apply(t, p)
		desc := c.waitDescribe(t, p.Name, "rro-runc: ")
		if !strings.Contains(desc, "OCI runtime create failed: rro-runc: ") {
			t.Errorf("kubectl describe pod lacks rro-runc's message:\n%s", desc)
		}
		t.Logf("kubectl describe pod %s:\n%s", p.Name, desc)
	})

	t.Run("pod annotation org.rro-runc.policy Disabled opts out where the node allows it", func(t *testing.T) {
		c.Runtime.SetWrapperConfig(t, "IfPossible", fixture.Runc(t), true)
		t.Cleanup(func() { c.Runtime.SetWrapperConfig(t, "IfPossible", fixture.Runc(t), false) })
		out, s := c.runProbe(t, probePod{Name: "annotation-disabled", RuntimeClass: "rro", Vol: vol,
			Annotations: map[string]string{"org.rro-runc.policy": "Disabled"}})
		fixture.CheckProbe(t, out, fixture.WantPlain)
		if b := c.bundle(t, containerID(t, s)); has(b.Options, "rro") {
			t.Errorf("config.json: /vol options %q after the pod opted out", b.Options)
		}
	})

	t.Run("pod annotation org.rro-runc.applied does not reach the runtime", func(t *testing.T) {
		// Under policy Disabled rro-runc writes nothing, so an
		// org.rro-runc.applied in config.json could only be the pod's
		// forgery, claiming a protection the volume does not have.
		c.Runtime.SetWrapperConfig(t, "Disabled", fixture.Runc(t), false)
		t.Cleanup(func() { c.Runtime.SetWrapperConfig(t, "IfPossible", fixture.Runc(t), false) })
		out, s := c.runProbe(t, probePod{Name: "forged-applied", RuntimeClass: "rro", Vol: vol,
			Annotations: map[string]string{"org.rro-runc.applied": "/vol"}})
		fixture.CheckProbe(t, out, fixture.WantPlain)
		if b := c.bundle(t, containerID(t, s)); b.HasAnn {
			t.Errorf("config.json carries the pod's org.rro-runc.applied = %q", b.Applied)
		}
	})
}
