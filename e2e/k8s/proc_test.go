//go:build k8s

package k8s

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a background process the suite started and must stop by PID.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc runs argv with stdout and stderr appended to logPath. It gets
// SIGKILL if the test process dies without cleaning up.
func startProc(t testing.TB, name, logPath string, env []string, argv ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("%s log: %v", name, err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the PID, then SIGKILL after grace.
func (p *proc) stop(t testing.TB, grace time.Duration) {
	t.Helper()
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	t.Logf("%s (pid %d) ignored SIGTERM for %v: killing it", p.name, p.cmd.Process.Pid, grace)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// tail is the end of the process's log, for failure messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// waitReady polls ready until it succeeds, fails t when p exits first or
// timeout passes.
func (p *proc) waitReady(t testing.TB, timeout time.Duration, what string, ready func() error) {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = ready(); err == nil {
			t.Logf("%s ready after %.1fs", what, time.Since(start).Seconds())
			return
		}
		if p.exited() {
			t.Fatalf("%s exited while waiting for %s (%v); log %s:\n%s", p.name, what, p.err, p.log, p.tail())
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: %s not ready after %v: %v; log %s:\n%s", p.name, what, timeout, err, p.log, p.tail())
}

// command runs argv to completion within timeout and returns its stdout;
// on failure the error carries stderr too.
func command(timeout time.Duration, env []string, stdin string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("%s: did not finish within %v; stderr: %s", strings.Join(argv, " "), timeout, errb.String())
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s: %v: %s%s", strings.Join(argv, " "), err, errb.String(), out.String())
	}
	return out.String(), nil
}
