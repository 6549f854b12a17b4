package install

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

// containerd2 is a private containerd 2.x that runs as a node's engine:
// its configuration is the node root's etc/containerd/config.toml and,
// in its own mount namespace, the node root's usr/local/bin is its
// /usr/local/bin, so the host paths rroctl install writes
// (BinaryName = "/usr/local/bin/rro-runc") resolve to the node's files.
// Root, state and sockets live under Dir.
//
// A small starter of its own until the fixture's Containerd2 (branch
// "engines") is merged; the lead may fold it in.
type containerd2 struct {
	Dir, Address, bin string
	crictlBin         string
	cmd               *exec.Cmd
	done              chan struct{}
}

// containerd2Bin is where e2e/setup.sh builds containerd 2.4.2.
func containerd2Bin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(fixture.ModuleRoot(t), ".cache", "containerd-v2.4.2", "bin")
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			fixture.SkipOrFail(t, "containerd 2.x not built (e2e/setup.sh builds it into %s): %v", bin, err)
		}
	}
	return bin
}

// nodeContainerdConfig is a node's containerd 2.x config.toml (version 3)
// with a comment of the admin's, as a real node's would have.
func nodeContainerdConfig(w string) string {
	return fmt.Sprintf(`# containerd 2.x of this node (e2e/install): the admin's comments stay.
version = 3
root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q

[plugins]
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %q

  [plugins."io.containerd.cri.v1.runtime"]
    # CAP_SYS_RESOURCE is not in this machine's bounding set.
    restrict_oom_score_adj = true

    [plugins."io.containerd.cri.v1.runtime".cni]
      bin_dirs = [%q]
      conf_dir = %q

  [plugins."io.containerd.grpc.v1.cri"]
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"

  # NRI's socket is machine-wide: other containerds run beside this one.
  [plugins."io.containerd.nri.v1.nri"]
    disable = true
`, filepath.Join(w, "root"), filepath.Join(w, "state"), filepath.Join(w, "c.sock"), filepath.Join(w, "c.sock.ttrpc"),
		filepath.Join(w, "debug.sock"), fixture.PauseImageRefFull, filepath.Join(w, "cni/bin"), filepath.Join(w, "cni/conf"))
}

// startContainerd2 runs containerd on the node root's configuration with
// env added (RRO_RUNC_CONFIG), waits for CRI, imports the pause and
// busybox images, and stops everything at the end of the test.
func startContainerd2(t *testing.T, w, nodeRoot string, env ...string) *containerd2 {
	t.Helper()
	c := &containerd2{Dir: w, Address: filepath.Join(w, "c.sock"), bin: containerd2Bin(t), crictlBin: fixture.Crictl(t), done: make(chan struct{})}
	for _, d := range []string{"cni/bin", "cni/conf"} {
		if err := os.MkdirAll(filepath.Join(w, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logf, err := os.OpenFile(filepath.Join(w, "containerd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// unshare execs sh which execs containerd: one PID to stop.
	c.cmd = exec.Command("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		`mount --bind "$1/usr/local/bin" /usr/local/bin && exec "$2/containerd" --config "$1/etc/containerd/config.toml"`,
		"sh", nodeRoot, c.bin)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.Env = append(os.Environ(), "PATH="+c.bin+":/usr/sbin:/usr/bin:/sbin:/bin")
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.stop(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err1 := c.ctr("k8s.io", "version")
		_, err2 := c.crictl("info")
		if err1 == nil && err2 == nil {
			break
		}
		select {
		case <-c.done:
			t.Fatalf("containerd exited: %v\n%s", c.cmd.ProcessState, c.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd not ready: %v %v\n%s", err1, err2, c.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, img := range []string{fixture.PauseImageTar(t), fixture.ImageTar(t)} {
		if out, err := c.ctr("k8s.io", "image", "import", img); err != nil {
			t.Fatalf("ctr image import %s: %v\n%s", img, err, out)
		}
	}
	return c
}

func (c *containerd2) log() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "containerd.log"))
	return string(b)
}

func (c *containerd2) ctr(ns string, args ...string) (string, error) {
	out, err := exec.Command(filepath.Join(c.bin, "ctr"), append([]string{"--address", c.Address, "--namespace", ns}, args...)...).CombinedOutput()
	return string(out), err
}

func (c *containerd2) crictl(args ...string) (string, error) {
	ep := "unix://" + c.Address
	cmd := exec.Command(c.crictlBin, append([]string{"--config", "/dev/null", "--runtime-endpoint", ep, "--image-endpoint", ep, "--timeout", "60s"}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// stop removes the pods, stops containerd (SIGTERM, then SIGKILL) and
// whatever it left: shims, runc containers.
func (c *containerd2) stop(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	default:
		_, _ = c.crictl("rmp", "--all", "--force")
		_ = syscall.Kill(c.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.done
		}
	}
	fixture.DeleteRuncContainersMentioning(t, "/run/containerd/runc/k8s.io", c.Dir+"/")
	fixture.KillProcessesMentioning(t, c.Dir)
}
