package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var errInterrupted = errors.New("interrupted")

// Mount layout of the create bundle: runc spec's 7 default mounts plus
// these, 20 in all, of which exactly rewritable are rro candidates.
const (
	totalMounts = 20
	rewritable  = 5
)

// fixture is everything the benchmark creates; all of it lives under dir
// and under runc's private --root, so nothing global is touched except the
// probe cache the cold case deletes on purpose.
type fixture struct {
	dir       string
	runc      string // absolute path of the real runtime
	root      string // runc --root
	rootfs    string
	bundle    string // the create bundle
	config    string // bundle/config.json
	original  []byte // config.json as a client wrote it, restored before each create
	rewritten []byte // config.json as rro-runc rewrote it (nil in placeholder mode)
	toml      string // rro-runc's configuration file
	errFile   *os.File
	stateID   string // a running container for state
	prefix    string // container ID prefix, unique per run
	running   []string

	// An interrupt cleans up from another goroutine: after that no new
	// command may start, or it would leave a container behind.
	closing atomic.Bool
	once    sync.Once
	busy    sync.Mutex // held while a command runs
}

func newFixture(dir, runc string) (*fixture, error) {
	f := &fixture{
		dir:    dir,
		runc:   runc,
		root:   filepath.Join(dir, "runc-root"),
		rootfs: filepath.Join(dir, "rootfs"),
		bundle: filepath.Join(dir, "bundle"),
		toml:   filepath.Join(dir, "rro-runc.toml"),
		prefix: fmt.Sprintf("rrobench-%d", os.Getpid()),
	}
	f.config = filepath.Join(f.bundle, "config.json")
	var err error
	if f.errFile, err = os.Create(filepath.Join(dir, "stderr.log")); err != nil {
		return nil, err
	}
	for _, step := range []func() error{f.makeRootfs, f.makeBundle, f.writeTOML} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// makeRootfs builds a busybox rootfs as CLIENTS.md describes.
func (f *fixture) makeRootfs() error {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox (package busybox-static) is needed for the rootfs: %w", err)
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "run"} {
		if err := os.MkdirAll(filepath.Join(f.rootfs, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.rootfs, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(f.rootfs, "bin", applet)); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(f.rootfs, "etc", "passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(f.rootfs, "etc", "group"), []byte("root:x:0:\n"), 0o644)
}

// makeBundle writes a config.json from `runc spec` with 20 mounts: the 7
// defaults, 5 ["rbind","ro"] host binds (the candidates), and 8 that must
// not change: tmpfs, rw rbinds and non-recursive ro binds.
func (f *fixture) makeBundle() error {
	if err := os.MkdirAll(f.bundle, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command(f.runc, "spec", "--bundle", f.bundle).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %w: %s", err, out)
	}
	data, err := os.ReadFile(f.config)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("runc spec output: %w", err)
	}
	process := spec["process"].(map[string]any)
	process["terminal"] = false
	process["args"] = []string{"sleep", "1000000"}
	spec["root"] = map[string]any{"path": f.rootfs, "readonly": true}
	mounts := spec["mounts"].([]any)

	host := func(name string) (string, error) {
		p := filepath.Join(f.dir, "host", name)
		return p, os.MkdirAll(p, 0o755)
	}
	add := func(dst, typ, src string, opts ...string) error {
		if err := os.MkdirAll(filepath.Join(f.rootfs, dst), 0o755); err != nil {
			return err
		}
		mounts = append(mounts, map[string]any{"destination": dst, "type": typ, "source": src, "options": opts})
		return nil
	}
	for i := 0; i < rewritable; i++ {
		src, err := host(fmt.Sprintf("ro%d", i))
		if err != nil {
			return err
		}
		if err := add(fmt.Sprintf("/vol/ro%d", i), "bind", src, "rbind", "ro"); err != nil {
			return err
		}
	}
	for i := 0; len(mounts) < totalMounts; i++ {
		var err error
		switch i % 3 {
		case 0:
			err = add(fmt.Sprintf("/scratch/%d", i), "tmpfs", "tmpfs", "nosuid", "nodev", "size=1m")
		case 1:
			var src string
			if src, err = host(fmt.Sprintf("rw%d", i)); err == nil {
				err = add(fmt.Sprintf("/vol/rw%d", i), "bind", src, "rbind", "rw")
			}
		case 2:
			var src string
			if src, err = host(fmt.Sprintf("flat%d", i)); err == nil {
				err = add(fmt.Sprintf("/vol/flat%d", i), "bind", src, "bind", "ro")
			}
		}
		if err != nil {
			return err
		}
	}
	spec["mounts"] = mounts
	if f.original, err = json.MarshalIndent(spec, "", "\t"); err != nil {
		return err
	}
	return f.restoreConfig()
}

func (f *fixture) restoreConfig() error {
	return os.WriteFile(f.config, f.original, 0o644)
}

// writeTOML is rro-runc's configuration for the benchmark: IfPossible, the
// real runc by absolute path.
func (f *fixture) writeTOML() error {
	return os.WriteFile(f.toml, fmt.Appendf(nil, "policy = \"IfPossible\"\nruntime = %q\n", f.runc), 0o644)
}

// runcArgs are the global flags containerd's shim passes, then args.
func (f *fixture) runcArgs(args ...string) []string {
	return append([]string{"--root", f.root, "--log", filepath.Join(f.bundle, "log.json"), "--log-format", "json"}, args...)
}

// usage is what one call cost: wall time from start to reaped exit, CPU
// time (user+system) and minor page faults. CPU and faults are the whole
// process's, runtime included; the wrapper's share is the difference to
// direct runc.
type usage struct {
	wall, cpu time.Duration
	faults    int64
}

// run runs path with args and env, stdout to /dev/null and stderr to a
// file: a pipe would be inherited by the container's init and keep Wait
// from returning.
func (f *fixture) run(path string, args, env []string) (usage, error) {
	return f.runSide(side{path: path, env: env}, args)
}

// runSide is run as the side's user.
func (f *fixture) runSide(s side, args []string) (usage, error) {
	path, env := s.path, s.env
	f.busy.Lock()
	defer f.busy.Unlock()
	if f.closing.Load() {
		return usage{}, errInterrupted
	}
	off, _ := f.errFile.Seek(0, io.SeekEnd)
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stderr = f.errFile
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	start := time.Now()
	err := cmd.Run()
	u := usage{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			u.faults = ru.Minflt
		}
	}
	if err != nil {
		msg := make([]byte, 4096)
		n, _ := f.errFile.ReadAt(msg, off)
		return u, fmt.Errorf("%s %s: %w: %s", path, strings.Join(args, " "), err, bytes.TrimSpace(msg[:n]))
	}
	return u, nil
}

// output runs path and returns its stdout, for the correctness checks.
func (f *fixture) output(path string, args, env []string) ([]byte, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", path, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// startStateContainer creates and starts a container with direct runc,
// for the state case.
func (f *fixture) startStateContainer() error {
	f.stateID = f.prefix + "-state"
	if err := f.restoreConfig(); err != nil {
		return err
	}
	if _, err := f.run(f.runc, f.runcArgs("create", "--bundle", f.bundle, f.stateID), os.Environ()); err != nil {
		return err
	}
	f.running = append(f.running, f.stateID)
	_, err := f.run(f.runc, f.runcArgs("start", f.stateID), os.Environ())
	return err
}

// containerStatus asks runc directly.
func (f *fixture) containerStatus(id string) (string, error) {
	out, err := f.output(f.runc, []string{"--root", f.root, "state", id}, os.Environ())
	if err != nil {
		return "", err
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return "", fmt.Errorf("runc state %s: %w", id, err)
	}
	return st.Status, nil
}

// rroMounts counts the mounts of config.json whose options include rro.
func (f *fixture) rroMounts() (int, error) {
	data, err := os.ReadFile(f.config)
	if err != nil {
		return 0, err
	}
	var spec struct {
		Mounts []struct {
			Options []string `json:"options"`
		} `json:"mounts"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return 0, fmt.Errorf("%s: %w", f.config, err)
	}
	n := 0
	for _, m := range spec.Mounts {
		for _, o := range m.Options {
			if o == "rro" {
				n++
				break
			}
		}
	}
	return n, nil
}

// cleanup removes every container this run created, then the work dir.
func (f *fixture) cleanup() {
	f.closing.Store(true)
	f.once.Do(f.doCleanup)
}

func (f *fixture) doCleanup() {
	f.busy.Lock() // let a create in flight finish, so that its container is deleted too
	defer f.busy.Unlock()
	for _, id := range f.running {
		_ = exec.Command(f.runc, "--root", f.root, "delete", "--force", id).Run()
	}
	if f.errFile != nil {
		f.errFile.Close()
	}
	_ = os.RemoveAll(f.dir)
}
