//go:build k8s

package k8s

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// nodeRuntime is the node's containerd 2.x with the CRI plugin, all state
// under Dir. The kubelet talks to Address.
type nodeRuntime struct {
	Dir      string
	Config   string // config.toml, version 3
	Address  string
	RuncRoot string // runc state of every handler lives below it
	// RroConfig is rro-runc's config file; containerd's environment points
	// rro-runc at it through RRO_RUNC_CONFIG.
	RroConfig string
	// NodeRoot, when set, is a directory standing for the node's root:
	// containerd reads NodeRoot/etc/containerd/config.toml, rro-runc reads
	// NodeRoot/etc/rro-runc/config.toml, and containerd runs in a mount
	// namespace where NodeRoot/usr/local/bin is /usr/local/bin, so the host
	// paths an installer writes (BinaryName = "/usr/local/bin/rro-runc")
	// are the node's files.
	NodeRoot string
	bin      string
	d        *fixture.Process
}

// runtimeOptions shape the node's containerd.
type runtimeOptions struct {
	NodeRoot string // see nodeRuntime.NodeRoot
	// NRIValidator holds TOML lines for NRI's default_validator table
	// (e.g. required_plugins); "" leaves it out.
	NRIValidator string
}

// newNodeRuntime writes containerd's config for this machine: a local
// pause image pinned as the sandbox image, restrict_oom_score_adj (this
// machine lacks CAP_SYS_RESOURCE), empty CNI directories (host-network pods
// only), NRI's socket under dir rather than /var/run/nri, and the default
// runc handler with its state under RuncRoot.
func newNodeRuntime(t testing.TB, dir string, o runtimeOptions) *nodeRuntime {
	t.Helper()
	fixture.Crictl(t)
	r := &nodeRuntime{
		Dir:       dir,
		Config:    filepath.Join(dir, "config.toml"),
		Address:   filepath.Join(dir, "c.sock"),
		RuncRoot:  filepath.Join(dir, "runc"),
		RroConfig: filepath.Join(dir, "rro-runc.toml"),
		NodeRoot:  o.NodeRoot,
		bin:       fixture.Containerd2BinDir(t),
	}
	if o.NodeRoot != "" {
		r.Config = filepath.Join(o.NodeRoot, "etc", "containerd", "config.toml")
		r.RroConfig = filepath.Join(o.NodeRoot, "etc", "rro-runc", "config.toml")
		for _, d := range []string{"etc/containerd", "usr/local/bin"} {
			if err := os.MkdirAll(filepath.Join(o.NodeRoot, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	validator := ""
	if o.NRIValidator != "" {
		validator = "\n    [plugins.'io.containerd.nri.v1.nri'.default_validator]\n"
		for _, l := range strings.Split(strings.TrimSpace(o.NRIValidator), "\n") {
			validator += "      " + strings.TrimSpace(l) + "\n"
		}
	}
	for _, d := range []string{"cni/bin", "cni/conf", "runc", "nri/plugins", "nri/conf"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`# The node's containerd (e2e/k8s): an admin's comment stays.
version = 3
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = %[5]q

[plugins]
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[6]q

  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true

    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%[7]q]
      conf_dir = %[8]q

    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'

        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          Root = %[9]q

  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'

  [plugins.'io.containerd.nri.v1.nri']
    socket_path = %[10]q
    plugin_path = %[11]q
    plugin_config_path = %[12]q
%[13]s`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), r.Address, r.Address+".ttrpc",
		filepath.Join(dir, "debug.sock"), fixture.PauseImageRefFull,
		filepath.Join(dir, "cni/bin"), filepath.Join(dir, "cni/conf"), filepath.Join(r.RuncRoot, "runc"),
		filepath.Join(dir, "nri.sock"), filepath.Join(dir, "nri/plugins"), filepath.Join(dir, "nri/conf"), validator)
	if err := os.WriteFile(r.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if o.NodeRoot == "" { // on a node root, the installer writes it
		r.SetWrapperConfig(t, "IfPossible", fixture.Runc(t), false)
	}
	return r
}

// SetWrapperConfig writes rro-runc's config file. rro-runc reads it on
// every create, so a change applies to the next container.
func (r *nodeRuntime) SetWrapperConfig(t testing.TB, policy, runtime string, allowOptOut bool) {
	t.Helper()
	content := fmt.Sprintf("policy = %q\nruntime = %q\nallow_annotation_opt_out = %v\n", policy, runtime, allowOptOut)
	if err := os.WriteFile(r.RroConfig, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Start runs containerd, imports the pause and busybox images into the
// k8s.io namespace and waits for the CRI plugin. Stop runs at the end of
// the test.
func (r *nodeRuntime) Start(t testing.TB) {
	t.Helper()
	r.start(t)
	t.Cleanup(func() { r.stop(t) })
	for _, img := range []string{fixture.PauseImageTar(t), fixture.ImageTar(t)} {
		if out, err := r.Ctr("k8s.io", "image", "import", img); err != nil {
			t.Fatalf("importing %s: %v\n%s", img, err, out)
		}
	}
}

func (r *nodeRuntime) start(t testing.TB) {
	t.Helper()
	env := []string{
		"PATH=" + r.bin + ":" + os.Getenv("PATH"), // containerd finds its shim in PATH
		"RRO_RUNC_CONFIG=" + r.RroConfig,
	}
	argv := []string{filepath.Join(r.bin, "containerd"), "--config", r.Config}
	if r.NodeRoot != "" {
		// slave: mounts the host makes later under a shared mount (the
		// kubelet's volumes) still arrive; nothing made here leaks out.
		argv = append([]string{"unshare", "--mount", "--propagation", "slave", "--", "/bin/sh", "-c",
			`mount --bind "$0/usr/local/bin" /usr/local/bin && exec "$@"`, r.NodeRoot}, argv...)
	}
	r.d = fixture.StartProcess(t, "containerd", filepath.Join(r.Dir, "containerd.log"), env, argv...)
	r.d.WaitReady(t, 60*time.Second, "containerd CRI", func() error {
		_, err := r.Crictl("info")
		return err
	})
}

// Restart stops containerd (its containers keep running under their
// shims) and starts it again on the same config: containerd has no config
// reload, and SIGHUP would stop it.
func (r *nodeRuntime) Restart(t testing.TB) {
	t.Helper()
	r.d.Stop(t, 30*time.Second)
	r.start(t)
}

// Ctr runs containerd 2's own ctr in namespace ns.
func (r *nodeRuntime) Ctr(ns string, args ...string) (string, error) {
	return command(2*time.Minute, nil, "", append([]string{filepath.Join(r.bin, "ctr"), "--address", r.Address, "--namespace", ns}, args...)...)
}

// Crictl runs crictl against the CRI plugin.
func (r *nodeRuntime) Crictl(args ...string) (string, error) {
	bin, err := exec.LookPath(crictlPath)
	if err != nil {
		return "", err
	}
	ep := "unix://" + r.Address
	return command(2*time.Minute, nil, "", append([]string{bin, "--config", "/dev/null", "--runtime-endpoint", ep, "--image-endpoint", ep, "--timeout", "60s"}, args...)...)
}

// crictlPath is set from fixture.Crictl by the first cluster.
var crictlPath = "crictl"

// Bundle is the config.json the runtime got for a running container: the
// file rro-runc rewrote, in containerd's task state.
func (r *nodeRuntime) Bundle(id string) string {
	return filepath.Join(r.Dir, "state", "io.containerd.runtime.v2.task", "k8s.io", id, "config.json")
}

// NRISocket is where NRI plugins connect to this containerd.
func (r *nodeRuntime) NRISocket() string { return filepath.Join(r.Dir, "nri.sock") }

// Log is containerd's log so far.
func (r *nodeRuntime) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "containerd.log"))
	return string(b)
}

// stop removes every pod through the CRI plugin (so shims exit and
// unmount), stops containerd by PID, then deletes what a killed shim may
// have left: runc containers under RuncRoot and processes naming Dir.
func (r *nodeRuntime) stop(t testing.TB) {
	t.Helper()
	if r.d != nil && !r.d.Exited() {
		if out, err := r.Crictl("rmp", "--all", "--force"); err != nil {
			t.Logf("cleanup: crictl rmp --all: %v\n%s", err, out)
		}
	}
	r.d.Stop(t, 30*time.Second)
	fixture.DeleteRuncContainers(t, r.RuncRoot)
	// A handler without a Root option (the installer writes none) keeps
	// runc state in containerd's default, shared by every containerd here.
	fixture.DeleteRuncContainersMentioning(t, "/run/containerd/runc/k8s.io", r.Dir+"/")
	fixture.KillProcessesMentioning(t, r.Dir+"/")
	if strings.Contains(r.Log(), "panic:") {
		t.Errorf("containerd panicked; log %s", filepath.Join(r.Dir, "containerd.log"))
	}
}
