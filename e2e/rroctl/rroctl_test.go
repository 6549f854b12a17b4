package rroctl

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

func TestMain(m *testing.M) { fixture.Main(m) }

var seq atomic.Int64

// run executes bin with args and extra environment, bounded by a minute.
func run(t *testing.T, env []string, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := fixture.Run(t, append(os.Environ(), env...), time.Minute, bin, args...)
	return r.Stdout, r.Stderr, r.Code
}

// env is rro-runc's and rroctl's configuration for a test: runc as the
// runtime, a private probe cache, nothing from the machine's /etc.
func env(t *testing.T) []string {
	t.Helper()
	return runtimeEnv(t, fixture.Runc(t))
}

// runtimeEnv is env with another runtime.
func runtimeEnv(t *testing.T, runtime string) []string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("runtime = %q\n", runtime)), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"RRO_RUNC_CONFIG=" + cfg, "RRO_RUNC_CACHE_DIR=" + filepath.Join(dir, "cache"), "RRO_RUNC_POLICY=", "RRO_RUNC_RUNTIME="}
}

// verifyReport is the part of `rroctl verify --format json` the tests read.
type verifyReport struct {
	Pid         int
	VolumesFrom string
	Volumes     []struct {
		Destination string
		MountedAt   string
		Options     []string
		Writable    []string
		Protected   bool
		Mounts      []struct {
			Mountpoint string
			ReadOnly   bool
		}
	}
	OK bool
}

// checkReport is the part of `rroctl check --format json` the tests read.
type checkReport struct {
	Configs []struct {
		Path     string
		Findings []string
		Mounts   []struct {
			Destination, Action, Reason string
		}
	}
	OK bool
}

func decode(t *testing.T, what, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, out)
	}
}

// container is a running runc container with the nested volume at /vol.
type container struct {
	id, bundle string
	pid        int
}

// TestVerifyAndCheck is the proof a security reviewer asks for: the same
// container with the same read-only volume, through plain runc (and crun)
// and through rro-runc; verify reads each one's real mount table, and check's
// verdict on each config agrees with it.
func TestVerifyAndCheck(t *testing.T) {
	fixture.RequireRoot(t)
	for _, rt := range []struct {
		name string
		path func(testing.TB) string
	}{
		{"runc", fixture.Runc},
		{"crun", fixture.CrunShim},
	} {
		t.Run(rt.name, func(t *testing.T) { verifyAndCheck(t, rt.path(t)) })
	}
}

func verifyAndCheck(t *testing.T, runtime string) {
	rroRunc, rroctl := fixture.Binaries(t)
	vol := fixture.NestedVolume(t)
	rootfs := fixture.Rootfs(t)
	root := filepath.Join(fixture.ShortTempDir(t), "state")
	env := runtimeEnv(t, runtime)

	start := func(t *testing.T, via string) container {
		t.Helper()
		bundle := fixture.Bundle(t, rootfs, []specs.Mount{fixture.VolumeMount(vol)}, "/bin/sleep", "600")
		id := fmt.Sprintf("rroctl-e2e-%d-%d", os.Getpid(), seq.Add(1))
		t.Cleanup(func() { exec.Command(runtime, "--root", root, "delete", "--force", id).Run() })
		if _, errOut, code := run(t, env, via, "--root", root, "run", "--detach", "--bundle", bundle, id); code != 0 {
			t.Fatalf("%s run: exit %d: %s", via, code, errOut)
		}
		out, errOut, code := run(t, nil, runtime, "--root", root, "state", id)
		if code != 0 {
			t.Fatalf("%s state %s: exit %d: %s", runtime, id, code, errOut)
		}
		var st specs.State
		decode(t, "state", out, &st)
		return container{id: id, bundle: bundle, pid: st.Pid}
	}
	plain := start(t, runtime)
	protected := start(t, rroRunc)
	// unprotected maps each bundle to the volumes verify found writable
	// below their top.
	unprotected := map[string][]string{}

	for _, tc := range []struct {
		name     string
		c        container
		code     int
		writable []string
	}{
		{"plain runtime", plain, 1, []string{"/vol/sub", "/vol/sub/deep"}},
		{"rro-runc", protected, 0, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// By container ID, through the runtime's state; by PID with the
			// bundle; by PID alone, from the mount table only.
			for _, args := range [][]string{
				{"--root", root, "--runtime", runtime, tc.c.id},
				{"--root", root, tc.c.id}, // the runtime from rro-runc's configuration
				{"--pid", fmt.Sprint(tc.c.pid), "--bundle", tc.c.bundle},
				{"--pid", fmt.Sprint(tc.c.pid)},
			} {
				out, errOut, code := run(t, env, rroctl, append([]string{"verify", "--format", "json"}, args...)...)
				if code != tc.code {
					t.Errorf("verify %q: exit %d, want %d\n%s%s", args, code, tc.code, out, errOut)
				}
				var rep verifyReport
				decode(t, "verify", out, &rep)
				if rep.Pid != tc.c.pid || len(rep.Volumes) != 1 || rep.OK != (tc.code == 0) {
					t.Fatalf("verify %q: %+v", args, rep)
				}
				v := rep.Volumes[0]
				if !v.Protected {
					unprotected[tc.c.bundle] = []string{v.Destination}
				} else {
					unprotected[tc.c.bundle] = []string{}
				}
				var mps []string
				for _, m := range v.Mounts {
					mps = append(mps, m.Mountpoint)
				}
				if v.Destination != "/vol" || !slices.Equal(mps, fixture.ProbePaths) || !slices.Equal(v.Writable, tc.writable) || v.Protected != (tc.code == 0) {
					t.Errorf("verify %q: volume %+v, want mounts %q, writable %q", args, v, fixture.ProbePaths, tc.writable)
				}
			}

			out, _, code := run(t, env, rroctl, "verify", "--root", root, tc.c.id)
			if code != tc.code || !strings.Contains(out, "volume /vol from "+vol) || !strings.Contains(out, "└── /vol/sub") {
				t.Errorf("verify text: exit %d\n%s", code, out)
			}
			t.Logf("rroctl verify --root %s %s:\n%s", root, tc.c.id, out)
		})
	}

	// check agrees: the config plain runtime ran (nothing rewrote it, which is
	// what policy Disabled shows) leaves /vol writable below its top, the
	// one rro-runc rewrote is clean.
	t.Run("check agrees with verify", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			args     []string
			code     int
			findings []string
			action   string
		}{
			{"plain config as plain runtime runs it", []string{"--policy", "Disabled", plain.bundle}, 1, []string{"/vol"}, "unchanged"},
			{"config after rro-runc", []string{"--policy", "Disabled", protected.bundle}, 0, []string{}, "unchanged"},
			{"config after rro-runc, configured policy", []string{protected.bundle}, 0, []string{}, "unchanged"},
			{"plain config through rro-runc", []string{plain.bundle}, 0, []string{}, "rewrite"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out, errOut, code := run(t, env, rroctl, append([]string{"check", "--format", "json"}, tc.args...)...)
				if code != tc.code {
					t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
				}
				var rep checkReport
				decode(t, "check", out, &rep)
				if len(rep.Configs) != 1 || !slices.Equal(rep.Configs[0].Findings, tc.findings) {
					t.Fatalf("check: %+v, want findings %q", rep, tc.findings)
				}
				// --policy Disabled reads a config as the runtime that ran it
				// did: its findings are the volumes verify saw writable.
				if tc.args[0] == "--policy" {
					bundle := tc.args[len(tc.args)-1]
					if got := unprotected[bundle]; !slices.Equal(rep.Configs[0].Findings, got) {
						t.Errorf("check findings %q, verify found %q not protected", rep.Configs[0].Findings, got)
					}
				}
				for _, m := range rep.Configs[0].Mounts {
					if m.Destination == "/vol" && m.Action != tc.action {
						t.Errorf("/vol: %s (%s), want %s", m.Action, m.Reason, tc.action)
					}
				}
			})
		}
		// check alone never touches the bundle it reads.
		before, _ := os.ReadFile(filepath.Join(plain.bundle, "config.json"))
		run(t, env, rroctl, "check", plain.bundle)
		if after, _ := os.ReadFile(filepath.Join(plain.bundle, "config.json")); string(after) != string(before) {
			t.Error("check changed config.json")
		}
	})
}

// TestVerifySymlinkedDestination: a destination that goes through a
// symlink in the rootfs is mounted where the symlink leads (runc resolves
// it inside the rootfs); verify looks there.
func TestVerifySymlinkedDestination(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc, rroctl := fixture.Binaries(t)
	runc := fixture.Runc(t)
	vol := fixture.NestedVolume(t)
	rootfs := fixture.RootfsCopy(t)
	if err := os.Symlink("/vol", filepath.Join(rootfs, "srv")); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(fixture.ShortTempDir(t), "state")
	env := env(t)
	mount := fixture.VolumeMount(vol)
	mount.Destination = "/srv"
	for _, tc := range []struct {
		via      string
		code     int
		writable []string
	}{
		{runc, 1, []string{"/vol/sub", "/vol/sub/deep"}},
		{rroRunc, 0, []string{}},
	} {
		bundle := fixture.Bundle(t, rootfs, []specs.Mount{mount}, "/bin/sleep", "600")
		id := fmt.Sprintf("rroctl-e2e-%d-%d", os.Getpid(), seq.Add(1))
		t.Cleanup(func() { exec.Command(runc, "--root", root, "delete", "--force", id).Run() })
		if _, errOut, code := run(t, env, tc.via, "--root", root, "run", "--detach", "--bundle", bundle, id); code != 0 {
			t.Fatalf("%s run: exit %d: %s", tc.via, code, errOut)
		}
		out, errOut, code := run(t, env, rroctl, "verify", "--format", "json", "--root", root, id)
		var rep verifyReport
		decode(t, "verify", out, &rep)
		if code != tc.code || len(rep.Volumes) != 1 {
			t.Fatalf("verify through %s: exit %d, want %d\n%s%s", tc.via, code, tc.code, out, errOut)
		}
		if v := rep.Volumes[0]; v.Destination != "/srv" || v.MountedAt != "/vol" || !slices.Equal(v.Writable, tc.writable) || len(v.Mounts) != 3 {
			t.Errorf("verify through %s: volume %+v, want /srv mounted at /vol, writable %q", tc.via, v, tc.writable)
		}
	}
}

// TestProbe: on this machine runc answers through `features`, crun 1.8.1
// (no features command before 1.8.6) through its version, and a runtime
// without rro makes policy Enabled impossible.
func TestProbe(t *testing.T) {
	fixture.RequireRoot(t)
	_, rroctl := fixture.Binaries(t)
	runc := fixture.Runc(t)
	crun := fixture.LookPath(t, "crun")
	env := env(t)

	type runtime struct {
		Path, Name, Version, Method, Cache string
		HasFeatures, RRO, Supported        bool
	}
	var rep struct {
		Kernel   struct{ MountSetattr bool }
		Runtimes []runtime
		OK       bool
	}
	for _, cache := range []string{"fresh", "hit"} {
		out, errOut, code := run(t, env, rroctl, "probe", "--format", "json", "--policy", "Enabled", "--runtime", runc, "--runtime", crun)
		if code != 0 {
			t.Fatalf("probe: exit %d: %s%s", code, out, errOut)
		}
		decode(t, "probe", out, &rep)
		if !rep.Kernel.MountSetattr || !rep.OK || len(rep.Runtimes) != 2 {
			t.Fatalf("probe: %+v", rep)
		}
		for _, rt := range rep.Runtimes {
			if rt.Cache != cache {
				t.Errorf("%s: cache %q, want %q", rt.Path, rt.Cache, cache)
			}
		}
	}
	r, c := rep.Runtimes[0], rep.Runtimes[1]
	if r.Name != "runc" || !r.HasFeatures || !r.RRO || r.Method != "features" || !r.Supported {
		t.Errorf("runc: %+v, want supported via features", r)
	}
	if c.Name != "crun" || !strings.HasPrefix(c.Version, "1.8.1") || c.HasFeatures || !c.RRO || c.Method != "version" || !c.Supported {
		t.Errorf("crun: %+v, want 1.8.1 supported via version", c)
	}

	out, _, _ := run(t, env, rroctl, "probe", "--runtime", crun)
	t.Logf("rroctl probe --runtime %s:\n%s", crun, out)
	if !strings.Contains(out, "rro:               yes, decided by version: no features command") {
		t.Errorf("probe text:\n%s", out)
	}

	noRRO := fixture.FakeRuntimeNoRRO(t)
	for _, tc := range []struct {
		policy string
		code   int
	}{{"Enabled", 1}, {"IfPossible", 0}, {"Disabled", 0}} {
		out, errOut, code := run(t, env, rroctl, "probe", "--policy", tc.policy, "--runtime", noRRO)
		if code != tc.code {
			t.Errorf("probe --policy %s with a runtime without rro: exit %d, want %d\n%s%s", tc.policy, code, tc.code, out, errOut)
		}
	}
}

// TestBadInput: things that are not there are input errors (2), named.
func TestBadInput(t *testing.T) {
	fixture.RequireRoot(t)
	_, rroctl := fixture.Binaries(t)
	runc := fixture.Runc(t)
	env := env(t)
	root := filepath.Join(fixture.ShortTempDir(t), "state")

	gone := exec.Command("/bin/true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(t.TempDir(), "runc")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "--root", root, "--runtime", runc, "no-such-container"}, "container does not exist"},
		{[]string{"verify", "--pid", fmt.Sprint(gone.Process.Pid)}, "does not exist"},
		{[]string{"verify", "--runtime", notExec, "x"}, notExec},
		{[]string{"probe", "--runtime", notExec}, notExec},
		{[]string{"check", "/nonexistent/bundle"}, "/nonexistent/bundle"},
	} {
		out, errOut, code := run(t, env, rroctl, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("rroctl %q: exit %d, stderr %q; want 2 naming %q\n%s", tc.args, code, errOut, tc.want, out)
		}
	}
}
