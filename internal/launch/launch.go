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
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rro-runc/rro-runc/probe"
)

// Default runtimes, in the order they are looked for in PATH.
var defaultRuntimes = []string{"runc", "crun"}

// systemDirs stand in for an empty PATH: conmon runs Podman's cleanup
// (podman stop, rm) with PATH="", and a stop must not fail because
// rro-runc cannot find runc.
var systemDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

func searchDirs() []string {
	if path := os.Getenv("PATH"); path != "" {
		return filepath.SplitList(path)
	}
	return systemDirs
}

// lookPath finds an executable file named name, skipping rro-runc itself.
func lookPath(name string, self os.FileInfo) (string, bool) {
	for _, dir := range searchDirs() {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && isExecutable(fi) && (self == nil || !os.SameFile(fi, self)) {
			return p, true
		}
	}
	return "", false
}

// Sentinel errors.
var (
	ErrRuntimeNotFound = errors.New("real runtime not found")
	ErrNotExecutable   = errors.New("real runtime is not an executable file")
	ErrSelf            = errors.New("real runtime is rro-runc itself")
	ErrLoop            = errors.New("exec loop")
)

// CheckLoop fails when this process descends from an rro-runc exec.
func CheckLoop(getenv func(string) string) error {
	if prev := getenv(probe.EnvChain); prev != "" {
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
			if p, ok := lookPath(candidate, self); ok {
				return p, nil
			}
		}
		return "", fmt.Errorf("%w: no runc or crun other than rro-runc itself in %s; set runtime in the configuration",
			ErrRuntimeNotFound, strings.Join(searchDirs(), ":"))
	}
	p := name
	if !strings.Contains(name, "/") {
		var ok bool
		// Not skipping itself here: a runtime named explicitly that turns
		// out to be rro-runc is an error to report, below.
		if p, ok = lookPath(name, nil); !ok {
			return "", fmt.Errorf("%w: %q is not in %s", ErrRuntimeNotFound, name, strings.Join(searchDirs(), ":"))
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
	env = append(env[:len(env):len(env)], probe.EnvChain+"="+path)
	err := syscall.Exec(path, argv, env)
	return fmt.Errorf("exec %s: %w", path, err)
}
