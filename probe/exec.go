package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Output beyond these is dropped: features JSON is a few KiB, and a
// runtime that prints megabytes must not make the wrapper hold them.
const (
	maxStdout = 1 << 20
	maxStderr = 4 << 10
)

// EnvChain is set in the environment of every runtime rro-runc runs,
// to the runtime's path: by the probe here, and by internal/launch when
// it execs the runtime. A "runtime" that leads back to rro-runc finds it
// and stops instead of looping.
const EnvChain = "RRO_RUNC_EXECED"

// waitDelay is how long a run's pipes may stay open after the runtime
// exited or was killed: a child that escaped the process group and holds
// them must not hold the wrapper as well.
const waitDelay = 2 * time.Second

// execResult is one run of the runtime.
type execResult struct {
	arg            string
	stdout, stderr []byte
	err            error // the run failed: exit status, timeout, start error
	startErr       error // the runtime could not be started at all
	timedOut       bool
	timeout        time.Duration
}

// describe says why a run failed, with the first line of its stderr.
func (r execResult) describe() string {
	if r.timedOut {
		return fmt.Sprintf("timed out after %s", r.timeout)
	}
	msg := r.err.Error()
	if line := firstLine(r.stderr); line != "" {
		msg += ": " + line
	}
	return msg
}

func (p *Prober) run(path, arg string) execResult {
	p.execs.Add(1)
	return run(path, p.timeout(), arg)
}

// Run runs the runtime at path with args the way the probe runs it: stdin
// on /dev/null, stdout kept up to 1 MiB and stderr up to 4 KiB (the rest
// is read and dropped), marked as run by rro-runc, and its whole process
// group killed after timeout. err is nil when it exited 0; timedOut says
// the timeout killed it. rroctl asks the runtime for a container's state
// this way.
func Run(path string, timeout time.Duration, args ...string) (stdout, stderr []byte, timedOut bool, err error) {
	r := run(path, timeout, args...)
	return r.stdout, r.stderr, r.timedOut, r.err
}

func run(path string, timeout time.Duration, args ...string) execResult {
	arg := strings.Join(args, " ")
	r := execResult{arg: arg, timeout: timeout}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	// Marked like an exec'd runtime: a "runtime" that leads back to
	// rro-runc fails fast instead of probing itself in a loop.
	cmd.Env = append(os.Environ(), EnvChain+"="+path)
	stdout := &cappedBuffer{max: maxStdout}
	stderr := &cappedBuffer{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	killGroupOnCancel(cmd)
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	r.stdout, r.stderr = stdout.b, stderr.b
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.err, r.timedOut = fmt.Errorf("%s %s: %w", path, arg, context.DeadlineExceeded), true
	case errors.As(err, &exitErr), errors.Is(err, exec.ErrWaitDelay):
		r.err = err
	default:
		r.err, r.startErr = err, err
	}
	return r
}

// cappedBuffer keeps the first max bytes written and swallows the rest,
// so a chatty runtime neither grows memory nor dies of a closed pipe.
type cappedBuffer struct {
	b   []byte
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
