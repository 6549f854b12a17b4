// Package launch finds the real OCI runtime and replaces rro-runc with it.
//
// Guarantees:
//   - Exec replaces the process (execve): stdin, stdout, stderr, every
//     inherited file descriptor (--preserve-fds, LISTEN_FDS), the working
//     directory and the environment reach the runtime unchanged. Nothing is
//     forked, so the runtime's exit status is the caller's.
//   - argv[0] is the runtime's real path: crun chooses its behaviour from
//     argv[0]'s basename.
//   - rro-runc never execs itself, found by name or by path, and a chain
//     of wrappers that leads back to rro-runc stops with an error instead
//     of looping.
package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// EnvChain is set in the runtime's environment to the path rro-runc
// exec'd. Finding it on entry means a wrapper further down led back here.
const EnvChain = "RRO_RUNC_EXECED"

// Default runtimes, in the order they are looked for in PATH.
var defaultRuntimes = []string{"runc", "crun"}

// Sentinel errors.
var (
	ErrRuntimeNotFound = errors.New("real runtime not found")
	ErrNotExecutable   = errors.New("real runtime is not an executable file")
	ErrSelf            = errors.New("real runtime is rro-runc itself")
	ErrLoop            = errors.New("exec loop")
)

// CheckLoop fails when this process descends from an rro-runc exec.
func CheckLoop(getenv func(string) string) error {
	if prev := getenv(EnvChain); prev != "" {
		return fmt.Errorf("%w: rro-runc was started again by its runtime %s (through another wrapper?); set the real runtime explicitly with runtime = \"/path/to/runc\"", ErrLoop, prev)
	}
	return nil
}

// Resolve turns the runtime setting into an absolute path. An empty name
// means the first runc or crun in PATH that is not rro-runc.
func Resolve(name string) (string, error) {
	self, _ := os.Stat("/proc/self/exe")
	if name == "" {
		for _, candidate := range defaultRuntimes {
			for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
				if dir == "" {
					continue
				}
				p := filepath.Join(dir, candidate)
				if fi, err := os.Stat(p); err == nil && isExecutable(fi) && !os.SameFile(fi, self) {
					return p, nil
				}
			}
		}
		return "", fmt.Errorf("%w: no runc or crun in PATH %q other than rro-runc itself; set runtime in the configuration", ErrRuntimeNotFound, os.Getenv("PATH"))
	}
	p := name
	if !strings.Contains(name, "/") {
		var err error
		if p, err = exec.LookPath(name); err != nil {
			return "", fmt.Errorf("%w: %q is not in PATH %q", ErrRuntimeNotFound, name, os.Getenv("PATH"))
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrRuntimeNotFound, p, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %s: %w", ErrRuntimeNotFound, abs, err)
	case !isExecutable(fi):
		return "", fmt.Errorf("%w: %s (mode %s)", ErrNotExecutable, abs, fi.Mode())
	case self != nil && os.SameFile(fi, self):
		return "", fmt.Errorf("%w: %s; point runtime at runc or crun", ErrSelf, abs)
	}
	return abs, nil
}

func isExecutable(fi os.FileInfo) bool {
	return fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Exec replaces the process with the runtime. It returns only on failure.
func Exec(path string, args, env []string) error {
	argv := make([]string, 0, len(args)+1)
	argv = append(argv, path)
	argv = append(argv, args...)
	env = append(env[:len(env):len(env)], EnvChain+"="+path)
	err := syscall.Exec(path, argv, env)
	return fmt.Errorf("exec %s: %w", path, err)
}
