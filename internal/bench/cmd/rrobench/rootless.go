package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// The rootless case: rro-runc and runc called by an unprivileged user, as
// rootless Podman calls them, on a rootless bundle (`runc spec
// --rootless`) whose read-only bind holds a tmpfs root mounted. rro-runc
// uses its per-user probe cache ($XDG_RUNTIME_DIR/rro-runc), so after the
// first call a create probes nothing.
const rootlessUser = "rrobench"

type rootlessFixture struct {
	dir, bundle, config, state string
	original                   []byte
	cred                       *syscall.Credential
	env                        []string
	vol                        string
}

func newRootless(f *fixture) (*rootlessFixture, error) {
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", rootlessUser).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("rootless case: useradd %s: %w: %s", rootlessUser, err, out)
		}
		if u, err = user.Lookup(rootlessUser); err != nil {
			return nil, err
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	r := &rootlessFixture{dir: filepath.Join(f.dir, "rootless"), cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	// The user must reach its bundle through the work dir (0700 from MkdirTemp).
	if err := os.Chmod(f.dir, 0o711); err != nil {
		return nil, err
	}
	r.bundle, r.state, r.vol = filepath.Join(r.dir, "bundle"), filepath.Join(r.dir, "state"), filepath.Join(r.dir, "vol")
	xdg := filepath.Join(r.dir, "xdg")
	for _, d := range []string{r.dir, r.bundle, xdg, filepath.Join(r.vol, "sub")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return nil, err
		}
	}
	if err := syscall.Mount("tmpfs", filepath.Join(r.vol, "sub"), "tmpfs", 0, "size=1m,mode=1777"); err != nil {
		return nil, fmt.Errorf("rootless case: tmpfs under the volume: %w", err)
	}
	r.env = append(cleanEnv(), "XDG_RUNTIME_DIR="+xdg, "HOME="+r.dir, "RRO_RUNC_CONFIG="+f.toml)
	spec := exec.Command(f.runc, "spec", "--rootless")
	spec.Dir, spec.Env = r.bundle, r.env
	spec.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	if out, err := spec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rootless case: runc spec --rootless: %w: %s", err, out)
	}
	r.config = filepath.Join(r.bundle, "config.json")
	var c map[string]any
	data, err := os.ReadFile(r.config)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	proc := c["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	c["root"] = map[string]any{"path": f.rootfs, "readonly": true}
	c["mounts"] = append(c["mounts"].([]any), map[string]any{"destination": "/vol", "type": "bind", "source": r.vol, "options": []string{"rbind", "ro"}})
	if r.original, err = json.MarshalIndent(c, "", "\t"); err != nil {
		return nil, err
	}
	return r, r.restore()
}

func (r *rootlessFixture) restore() error {
	if err := os.WriteFile(r.config, r.original, 0o644); err != nil {
		return err
	}
	return os.Chown(r.config, int(r.cred.Uid), int(r.cred.Gid))
}

func (r *rootlessFixture) args(verb, id string) []string {
	if verb == "create" {
		return []string{"--root", r.state, "create", "--bundle", r.bundle, id}
	}
	return []string{"--root", r.state, verb, id}
}

func (r *rootlessFixture) cleanup(f *fixture, ids []string) {
	for _, id := range ids {
		c := exec.Command(f.runc, "--root", r.state, "delete", "--force", id)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
		c.Env = r.env
		_ = c.Run()
	}
	syscall.Unmount(filepath.Join(r.vol, "sub"), syscall.MNT_DETACH)
}

// rootlessCase times create as the unprivileged user, runc and rro-runc
// interleaved, with rro-runc's per-user cache warm, and counts one warm
// rootless create under strace: it must start no process but the runtime.
func rootlessCase(o *options, f *fixture, rep *report, strace string, warmup int, progress func(string)) error {
	r, err := newRootless(f)
	if err != nil {
		return err
	}
	sides := []side{
		{name: "runc", path: o.runc, env: r.env, cred: r.cred},
		{name: "rro-runc", path: o.wrapper, env: append(clone(r.env), "RRO_RUNC_RUNTIME="+o.runc), cred: r.cred},
	}
	ids := []string{f.prefix + "-rl0", f.prefix + "-rl1"}
	defer r.cleanup(f, ids)
	id := func(s side) string {
		if s.name == "runc" {
			return ids[0]
		}
		return ids[1]
	}
	// Correctness first: rro-runc, as the user, makes the volume rro.
	if _, err := f.runSide(sides[1], r.args("create", ids[1])); err != nil {
		return fmt.Errorf("rootless case: %w", err)
	}
	if data, err := os.ReadFile(r.config); err != nil || !json.Valid(data) || !containsRRO(data) {
		return fmt.Errorf("rootless case: rro-runc create as %s left no rro in %s (%v)", rootlessUser, r.config, err)
	}
	if _, err := f.runSide(sides[1], r.args("delete", ids[1])); err != nil {
		return fmt.Errorf("rootless case: %w", err)
	}
	progress(fmt.Sprintf("create+delete, rootless, warm per-user cache, %d runs x %d sides", o.createRuns, len(sides)))
	res, err := measure("`create` as an unprivileged user (rootless bundle, 1 rro), warm per-user cache", target{}, sides, o.createRuns, warmup,
		sample{
			before: func(side) error { return r.restore() },
			args:   func(s side) []string { return r.args("create", id(s)) },
			after:  func(s side) error { _, err := f.runSide(s, r.args("delete", id(s))); return err },
		}, f)
	if err != nil {
		return err
	}
	rep.cases = append(rep.cases, res)
	if err := r.restore(); err != nil {
		return err
	}
	cnt, err := traceCall(f, strace, sides[1], r.args("create", ids[1]))
	if err != nil {
		return fmt.Errorf("rootless case, counting: %w", err)
	}
	if _, err := f.runSide(sides[1], r.args("delete", ids[1])); err != nil {
		return err
	}
	rep.counts = append(rep.counts, countRow{name: "`create`, rootless, warm per-user cache", c: cnt, mustZero: !o.placeholder, want: o.runc})
	return nil
}

func containsRRO(config []byte) bool {
	var spec struct {
		Mounts []struct {
			Options []string `json:"options"`
		} `json:"mounts"`
	}
	if json.Unmarshal(config, &spec) != nil {
		return false
	}
	for _, m := range spec.Mounts {
		for _, o := range m.Options {
			if o == "rro" {
				return true
			}
		}
	}
	return false
}
