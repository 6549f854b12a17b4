package install

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWaitKeepsTheDaemonSetPodRunning: with --wait, a successful install
// stays running until SIGTERM (what the kubelet sends) and then exits 0
// without undoing anything; a failed one exits at once, non-zero, so the
// pod shows CrashLoopBackOff.
func TestWaitKeepsTheDaemonSetPodRunning(t *testing.T) {
	src := binDir(t)
	root := t.TempDir()
	cmd := exec.Command(filepath.Join(src, "rroctl"), "install", "--host-root", root, "--engine", "podman", "--wait")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	var out []string
	timeout := time.After(30 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("rroctl install --wait exited: %v\n%s", <-done, strings.Join(out, "\n"))
			}
			out = append(out, l)
			if l == "done; waiting until terminated (--wait)" {
				break wait
			}
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("no \"done\" line:\n%s", strings.Join(out, "\n"))
		}
	}
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("install --wait did not wait: %v", err)
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("install --wait ignored SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/bin/rro-runc")); err != nil {
		t.Errorf("SIGTERM undid the install: %v", err)
	}

	// A failure does not wait.
	bad := exec.Command(filepath.Join(src, "rroctl"), "install", "--host-root", filepath.Join(root, "missing"), "--engine", "podman", "--wait")
	start := time.Now()
	outb, err := bad.CombinedOutput()
	if err == nil || time.Since(start) > 10*time.Second || !strings.Contains(string(outb), "--host-root") {
		t.Errorf("failed install --wait: %v after %s:\n%s", err, time.Since(start), outb)
	}
}
