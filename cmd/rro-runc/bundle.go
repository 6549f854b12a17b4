package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/rro-runc/rro-runc/argv"
	"github.com/rro-runc/rro-runc/atomicfile"
	"github.com/rro-runc/rro-runc/policy"
	"github.com/rro-runc/rro-runc/probe"
	"github.com/rro-runc/rro-runc/rewrite"
)

// maxConfigSize bounds what rro-runc reads: a config.json of 10,000 mounts
// is about 2 MiB, so anything near this is not a real bundle.
const maxConfigSize = 64 << 20

var errBadConfigFile = errors.New("cannot read config file")

// rewriteBundle makes the bundle's read-only recursive binds rro, as far as
// the settings ask and the kernel and runtime allow. It returns an error
// when the container must not start; config.json is then untouched.
func rewriteBundle(inv *argv.Invocation, s *policy.Settings, runtime string) error {
	if s.Policy == rewrite.Disabled {
		return nil // the administrator's off switch: no read, no probe, no write
	}
	path := inv.ConfigPath()
	data, mode, err := readConfig(path)
	if err != nil {
		return err
	}
	plan, err := rewrite.Analyze(data, s.Options())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var support rewrite.Support
	if plan.NeedsSupport() {
		support = probeSupport(runtime)
	}
	result, err := plan.Apply(support)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !result.Changed {
		return nil
	}
	if err := atomicfile.WriteFile(path, result.Config, mode); err != nil {
		return fmt.Errorf("policy %s: cannot write the rewritten %s, refusing to start the container without rro: %w", result.Policy, path, err)
	}
	return nil
}

func probeSupport(runtime string) rewrite.Support {
	kernel := probe.ProbeKernel()
	rt, err := (&probe.Prober{}).Runtime(runtime)
	if err != nil {
		return rewrite.Support{Reason: err.Error()}
	}
	ok, reason := probe.Support(kernel, rt)
	return rewrite.Support{Supported: ok, Reason: reason}
}

// readConfig reads the config file without following a symlink, without
// blocking on a FIFO and without reading more than maxConfigSize.
func readConfig(path string) ([]byte, os.FileMode, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, 0, fmt.Errorf("%w %s: it is a symlink; rro-runc rewrites only a regular file inside the bundle", errBadConfigFile, path)
		}
		return nil, 0, fmt.Errorf("%w: %w", errBadConfigFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("%w %s: %w", errBadConfigFile, path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%w %s: not a regular file (%s)", errBadConfigFile, path, fi.Mode().Type())
	}
	if fi.Size() > maxConfigSize {
		return nil, 0, fmt.Errorf("%w %s: %d bytes is over the %d byte limit", errBadConfigFile, path, fi.Size(), maxConfigSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w %s: %w", errBadConfigFile, path, err)
	}
	if len(data) > maxConfigSize {
		return nil, 0, fmt.Errorf("%w %s: over the %d byte limit", errBadConfigFile, path, maxConfigSize)
	}
	return data, fi.Mode().Perm(), nil
}
