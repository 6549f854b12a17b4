package reliability

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
	"github.com/rro-runc/rro-runc/internal/specfile"
	"github.com/rro-runc/rro-runc/probe"
)

// world is one bad-input row's sandbox: a bundle with a good config.json
// holding one read-only bind, an empty wrapper configuration file named by
// RRO_RUNC_CONFIG (the defaults), a private probe cache, a recording fake
// runc found through PATH, and a --log file. A row's setup breaks one of
// them.
type world struct {
	t        *testing.T
	rroRunc  string
	dir      string
	bundle   string
	config   string // the bundle's config.json
	cfg      string // the wrapper's configuration file
	cacheDir string
	runtime  string // the recording fake runc
	argvLog  string
	log      string // --log; "" for none
	id       string
	env      []string // added after the defaults, so they win
	prefix   []string // a command rro-runc runs under (setpriv)
	// configAt overrides the --bundle argument (a bundle that is not there).
	bundleArg string
}

func newWorld(t *testing.T, rroRunc string) *world {
	w := &world{t: t, rroRunc: rroRunc, dir: t.TempDir(), id: "ctr"}
	w.bundle = filepath.Join(w.dir, "bundle")
	w.config = filepath.Join(w.bundle, "config.json")
	w.cfg = filepath.Join(w.dir, "rro-runc.toml")
	w.cacheDir = filepath.Join(w.dir, "cache")
	w.log = filepath.Join(w.dir, "log.json")
	w.bundleArg = w.bundle
	w.runtime, w.argvLog = recordingRuntime(t, filepath.Join(w.dir, "bin"))
	if err := os.Mkdir(w.bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	w.write(w.config, goodConfig(t))
	w.write(w.cfg, nil)
	return w
}

// goodConfig is a config.json with one candidate: ["rbind","ro"] at /vol.
func goodConfig(t testing.TB) []byte {
	t.Helper()
	spec := fixture.Spec("/nonexistent-rootfs", []specs.Mount{fixture.VolumeMount("/tmp")}, "/bin/true")
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func (w *world) write(path string, data []byte) {
	w.t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) replaceConfig(data string) {
	w.t.Helper()
	w.write(w.config, []byte(data))
}

func (w *world) removeConfig() {
	w.t.Helper()
	if err := os.Remove(w.config); err != nil {
		w.t.Fatal(err)
	}
}

// environ is rro-runc's whole environment for this row.
func (w *world) environ() []string {
	env := baseEnv("PATH="+filepath.Dir(w.runtime)+":/usr/bin:/bin", envConfig+"="+w.cfg, envCacheDir+"="+w.cacheDir)
	return append(env, w.env...)
}

// logArgs are the global flags containerd's shim passes.
func (w *world) logArgs() []string {
	if w.log == "" {
		return nil
	}
	return []string{"--log", w.log, "--log-format", "json"}
}

func (w *world) run(args ...string) result {
	w.t.Helper()
	args = append(w.logArgs(), args...)
	if len(w.prefix) > 0 {
		return runCmd(w.t, w.environ(), w.prefix[0], append(append(w.prefix[1:], w.rroRunc), args...)...)
	}
	return runCmd(w.t, w.environ(), w.rroRunc, args...)
}

// roTmpfs mounts a tmpfs at dir, lets fill populate it, and makes it
// read-only: a directory rro-runc really cannot write, even as root.
func roTmpfs(t testing.TB, dir, opts string, fill func()) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Fatalf("mount tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if fill != nil {
		fill()
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, opts); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}

// snapshot describes what is at path, so "unchanged" can be checked for
// files that are not regular or not there.
func snapshot(path string) string {
	fi, err := os.Lstat(path)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case fi.Mode()&os.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		return "symlink to " + target
	case fi.Mode().IsRegular():
		b, err := os.ReadFile(path)
		if err != nil {
			return "unreadable regular file: " + err.Error()
		}
		return fmt.Sprintf("regular file %s, %d bytes, sha256 %x", fi.Mode(), len(b), sha256.Sum256(b))
	}
	return fmt.Sprintf("%s (%s)", fi.Mode().Type(), fi.Mode())
}

// after says what config.json must look like once the create has run.
type after int

const (
	unchanged after = iota // byte for byte (or type for type) as before
	rewritten              // the rewrite: /vol got rro
)

// badInput is one row of docs/bad-input.md.
type badInput struct {
	name  string
	setup func(t *testing.T, w *world)
	// create's exit status, and the strings its message must contain
	// (the input it is about); computed after setup.
	code int
	msg  func(w *world) []string
	// what config.json is afterwards.
	config after
	// passCode is the exit status of the pass-through commands (state,
	// delete --force): 0 means they reached the runtime. passMsg is their
	// message when they fail.
	passCode int
	passMsg  func(w *world) []string
	// check makes assertions of the row's own.
	check func(t *testing.T, w *world)
}

func strs(s ...string) func(*world) []string { return func(*world) []string { return s } }

func configMsg(extra ...string) func(*world) []string {
	return func(w *world) []string { return append([]string{w.config}, extra...) }
}

func cfgMsg(extra ...string) func(*world) []string {
	return func(w *world) []string { return append([]string{w.cfg}, extra...) }
}

func runtimeMsg(extra ...string) func(*world) []string {
	return func(w *world) []string {
		return append([]string{strings.TrimPrefix(envValue(w.env, envRuntime), "")}, extra...)
	}
}

func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// badInputs is docs/bad-input.md, row for row.
func badInputs(t *testing.T) []badInput {
	good := goodConfig(t)
	return []badInput{
		// config.json
		{name: "config.json missing", setup: func(t *testing.T, w *world) { w.removeConfig() },
			code: 1, msg: configMsg("no such file")},
		{name: "config.json empty", setup: func(t *testing.T, w *world) { w.replaceConfig("") },
			code: 1, msg: configMsg("not valid JSON")},
		{name: "config.json not JSON", setup: func(t *testing.T, w *world) { w.replaceConfig("ociVersion: 1.0.2\nmounts: []\n") },
			code: 1, msg: configMsg("not valid JSON")},
		{name: "config.json truncated", setup: func(t *testing.T, w *world) { w.replaceConfig(string(good[:len(good)/2])) },
			code: 1, msg: configMsg("not valid JSON")},
		{name: "config.json a directory", setup: func(t *testing.T, w *world) {
			w.removeConfig()
			if err := os.Mkdir(w.config, 0o755); err != nil {
				t.Fatal(err)
			}
		}, code: 1, msg: configMsg("directory")},
		{name: "config.json a FIFO", setup: func(t *testing.T, w *world) {
			w.removeConfig()
			if err := unix.Mkfifo(w.config, 0o644); err != nil {
				t.Fatal(err)
			}
		}, code: 1, msg: configMsg("FIFO")},
		{name: "config.json a symlink", setup: func(t *testing.T, w *world) {
			w.removeConfig()
			target := filepath.Join(w.dir, "elsewhere.json")
			w.write(target, good)
			if err := os.Symlink(target, w.config); err != nil {
				t.Fatal(err)
			}
		}, code: 1, msg: configMsg("symlink"), check: func(t *testing.T, w *world) {
			if got := readFile(t, filepath.Join(w.dir, "elsewhere.json")); !bytes.Equal(got, good) {
				t.Errorf("the symlink's target was written to")
			}
		}},
		{name: "config.json over the size limit", setup: func(t *testing.T, w *world) {
			// Sparse: the size is what counts, and it costs no disk.
			if err := os.Truncate(w.config, specfile.MaxSize+1); err != nil {
				t.Fatal(err)
			}
		}, code: 1, msg: configMsg("limit")},

		// mounts
		{name: "mounts absent", setup: func(t *testing.T, w *world) { w.replaceConfig(`{"ociVersion":"1.0.2-dev","root":{"path":"rootfs"}}`) },
			code: 0, config: unchanged},
		{name: "mounts null", setup: func(t *testing.T, w *world) { w.replaceConfig(`{"ociVersion":"1.0.2-dev","mounts":null}`) },
			code: 0, config: unchanged},
		{name: "mounts not an array", setup: func(t *testing.T, w *world) {
			w.replaceConfig(`{"ociVersion":"1.0.2-dev","mounts":{"destination":"/vol","source":"/tmp","options":["rbind","ro"]}}`)
		}, code: 1, msg: configMsg("mounts", "object")},
		{name: "mount options not strings", setup: func(t *testing.T, w *world) {
			w.replaceConfig(`{"ociVersion":"1.0.2-dev","mounts":[{"destination":"/vol","source":"/tmp","options":["rbind",1]}]}`)
		}, code: 1, msg: configMsg("mounts[0]", "/vol", "options[1]")},
		{name: "mount options a string", setup: func(t *testing.T, w *world) {
			w.replaceConfig(`{"ociVersion":"1.0.2-dev","mounts":[{"destination":"/vol","source":"/tmp","options":"rbind,ro"}]}`)
		}, code: 1, msg: configMsg("mounts[0]", "/vol", "options")},
		{name: "mount option null", setup: func(t *testing.T, w *world) {
			w.replaceConfig(`{"ociVersion":"1.0.2-dev","mounts":[{"destination":"/vol","source":"/tmp","options":["rbind","ro",null]}]}`)
		}, code: 1, msg: configMsg("mounts[0]", "/vol", "options[2]")},

		// the bundle
		{name: "bundle missing", setup: func(t *testing.T, w *world) {
			w.bundleArg = filepath.Join(w.dir, "no-such-bundle")
			w.config = filepath.Join(w.bundleArg, "config.json")
		}, code: 1, msg: configMsg("no such file")},
		{name: "bundle read-only, policy IfPossible", setup: func(t *testing.T, w *world) { readOnlyBundle(t, w, good) },
			code: 1, msg: configMsg("IfPossible", "refusing", "read-only file system")},
		{name: "bundle read-only, policy Enabled", setup: func(t *testing.T, w *world) {
			readOnlyBundle(t, w, good)
			w.env = append(w.env, envPolicy+"=Enabled")
		}, code: 1, msg: configMsg("Enabled", "refusing", "read-only file system")},
		{name: "bundle read-only, policy Disabled", setup: func(t *testing.T, w *world) {
			readOnlyBundle(t, w, good)
			w.env = append(w.env, envPolicy+"=Disabled")
		}, code: 0, config: unchanged},
		{name: "bundle full, policy IfPossible", setup: func(t *testing.T, w *world) { fullBundle(t, w, good) },
			code: 1, msg: configMsg("IfPossible", "refusing", "no space left"), check: noTempFiles},
		{name: "bundle full, policy Enabled", setup: func(t *testing.T, w *world) {
			fullBundle(t, w, good)
			w.env = append(w.env, envPolicy+"=Enabled")
		}, code: 1, msg: configMsg("Enabled", "refusing", "no space left"), check: noTempFiles},

		// the wrapper's configuration file
		{name: "wrapper config missing", setup: func(t *testing.T, w *world) {
			if err := os.Remove(w.cfg); err != nil {
				t.Fatal(err)
			}
		}, code: 1, msg: cfgMsg("no such file")},
		{name: "wrapper config a directory", setup: func(t *testing.T, w *world) {
			if err := os.Remove(w.cfg); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(w.cfg, 0o755); err != nil {
				t.Fatal(err)
			}
		}, code: 1, msg: cfgMsg()},
		{name: "wrapper config permission denied", setup: func(t *testing.T, w *world) {
			w.write(w.cfg, []byte("policy = \"Enabled\"\n"))
			if err := os.Chmod(w.cfg, 0); err != nil {
				t.Fatal(err)
			}
			// Root reads any file; without these two capabilities it
			// meets the permission bits like anyone else.
			w.prefix = []string{fixture.LookPath(t, "setpriv"), "--bounding-set", "-dac_override,-dac_read_search", "--"}
		}, code: 1, msg: cfgMsg("permission denied")},
		{name: "wrapper config a FIFO", setup: func(t *testing.T, w *world) {
			if err := os.Remove(w.cfg); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mkfifo(w.cfg, 0o644); err != nil {
				t.Fatal(err)
			}
		}, code: 1, msg: cfgMsg()},
		{name: "wrapper config a character device", setup: func(t *testing.T, w *world) { w.cfg = "/dev/zero" },
			code: 1, msg: cfgMsg()},
		{name: "wrapper config not TOML", setup: func(t *testing.T, w *world) { w.write(w.cfg, []byte("policy = Enabled\n")) },
			code: 1, msg: cfgMsg()},
		{name: "wrapper config unknown key", setup: func(t *testing.T, w *world) { w.write(w.cfg, []byte("polcy = \"Enabled\"\n")) },
			code: 1, msg: cfgMsg("polcy")},
		{name: "wrapper config unknown policy", setup: func(t *testing.T, w *world) { w.write(w.cfg, []byte("policy = \"Sometimes\"\n")) },
			code: 1, msg: cfgMsg("Sometimes")},
		{name: "RRO_RUNC_POLICY unknown", setup: func(t *testing.T, w *world) { w.env = append(w.env, envPolicy+"=Sometimes") },
			code: 1, msg: strs(envPolicy, "Sometimes")},

		// the runtime
		{name: "runtime missing", setup: func(t *testing.T, w *world) {
			w.env = append(w.env, envRuntime+"="+filepath.Join(w.dir, "no-such-runc"))
		}, code: 1, msg: runtimeMsg("not found"), passCode: 1, passMsg: runtimeMsg("not found")},
		{name: "runtime not executable", setup: func(t *testing.T, w *world) {
			p := filepath.Join(w.dir, "runc-0644")
			w.write(p, []byte("#!/bin/sh\nexit 0\n"))
			w.env = append(w.env, envRuntime+"="+p)
		}, code: 1, msg: runtimeMsg("not an executable"), passCode: 1, passMsg: runtimeMsg("not an executable")},
		{name: "runtime a directory", setup: func(t *testing.T, w *world) {
			w.env = append(w.env, envRuntime+"="+w.dir)
		}, code: 1, msg: runtimeMsg("not an executable"), passCode: 1, passMsg: runtimeMsg("not an executable")},
		{name: "runtime is rro-runc itself", setup: func(t *testing.T, w *world) {
			w.env = append(w.env, envRuntime+"="+w.rroRunc)
		}, code: 1, msg: runtimeMsg("rro-runc itself"), passCode: 1, passMsg: runtimeMsg("rro-runc itself")},
		{name: "runtime is a symlink to rro-runc", setup: func(t *testing.T, w *world) {
			p := filepath.Join(w.dir, "runc-link")
			if err := os.Symlink(w.rroRunc, p); err != nil {
				t.Fatal(err)
			}
			w.env = append(w.env, envRuntime+"="+p)
		}, code: 1, msg: runtimeMsg("rro-runc itself"), passCode: 1, passMsg: runtimeMsg("rro-runc itself")},
		{name: "runtime loops through another wrapper", setup: func(t *testing.T, w *world) {
			p := filepath.Join(w.dir, "other-wrapper")
			writeExecutable(t, p, fmt.Sprintf("#!/bin/sh\nexec %s \"$@\"\n", shellQuote(w.rroRunc)))
			w.env = append(w.env, envRuntime+"="+p)
		}, code: 1, msg: runtimeMsg("exec loop"), passCode: 1, passMsg: runtimeMsg("exec loop")},

		// the log file
		{name: "--log cannot be opened, create succeeds", setup: func(t *testing.T, w *world) {
			w.log = filepath.Join(w.dir, "no-such-dir", "log.json")
		}, code: 0, config: rewritten},
		{name: "--log cannot be opened, create fails", setup: func(t *testing.T, w *world) {
			w.log = filepath.Join(w.dir, "no-such-dir", "log.json")
			w.replaceConfig("")
		}, code: 1, msg: func(w *world) []string { return []string{"cannot open log file " + w.log, w.config} }},

		{name: "--log a directory, create fails", setup: func(t *testing.T, w *world) {
			w.log = t.TempDir()
			w.replaceConfig("")
		}, code: 1, msg: func(w *world) []string { return []string{"cannot open log file " + w.log, w.config} }},

		// annotations
		{name: "annotation with an unknown policy", setup: func(t *testing.T, w *world) {
			w.replaceConfig(`{"ociVersion":"1.0.2-dev","annotations":{"org.rro-runc.policy":"Sometimes"},"mounts":[{"destination":"/vol","source":"/tmp","options":["rbind","ro"]}]}`)
		}, code: 1, msg: configMsg("org.rro-runc.policy", "Sometimes")},
		{name: "annotation lowering the policy, opt-out not allowed", setup: func(t *testing.T, w *world) {
			w.replaceConfig(`{"ociVersion":"1.0.2-dev","annotations":{"org.rro-runc.policy":"Disabled"},"mounts":[{"destination":"/vol","source":"/tmp","options":["rbind","ro"]}]}`)
		}, code: 1, msg: configMsg("org.rro-runc.policy", "Disabled", "allow_annotation_opt_out")},

		// the probe cache
		{name: "probe cache corrupt", setup: func(t *testing.T, w *world) {
			if err := os.MkdirAll(w.cacheDir, 0o700); err != nil {
				t.Fatal(err)
			}
			w.write(cacheFile(t, w), []byte("{\"key\": garbage\x00\xff"))
		}, code: 0, config: rewritten, check: func(t *testing.T, w *world) {
			var e struct{ Runtime probe.Runtime }
			if err := json.Unmarshal(readFile(t, cacheFile(t, w)), &e); err != nil || !e.Runtime.RRO {
				t.Errorf("corrupt cache file not replaced by a valid answer: %v %+v", err, e)
			}
		}},
		{name: "probe cache a file, not a directory", setup: func(t *testing.T, w *world) { w.write(w.cacheDir, []byte("not a directory")) },
			code: 0, config: rewritten},
		{name: "probe cache entry a directory", setup: func(t *testing.T, w *world) {
			if err := os.MkdirAll(filepath.Join(cacheFile(t, w), "x"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, code: 0, config: rewritten},
		{name: "probe cache read-only", setup: func(t *testing.T, w *world) { roTmpfs(t, w.cacheDir, "size=64k", nil) },
			code: 0, config: rewritten, check: func(t *testing.T, w *world) {
				if entries, _ := os.ReadDir(w.cacheDir); len(entries) != 0 {
					t.Errorf("read-only cache directory has entries: %v", entries)
				}
			}},
	}
}

func cacheFile(t testing.TB, w *world) string {
	t.Helper()
	f, err := (&probe.Prober{CacheDir: w.cacheDir}).CacheFile(w.runtime)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// readOnlyBundle moves the bundle onto a read-only tmpfs.
func readOnlyBundle(t *testing.T, w *world, config []byte) {
	w.bundle = filepath.Join(w.dir, "ro-bundle")
	w.bundleArg, w.config = w.bundle, filepath.Join(w.bundle, "config.json")
	roTmpfs(t, w.bundle, "size=1m,mode=0755", func() { w.write(w.config, config) })
}

// fullBundle moves the bundle onto a tmpfs with room for config.json but
// not for a second copy: the temporary file's write fails with ENOSPC.
func fullBundle(t *testing.T, w *world, config []byte) {
	w.bundle = filepath.Join(w.dir, "full-bundle")
	w.bundleArg, w.config = w.bundle, filepath.Join(w.bundle, "config.json")
	if err := os.MkdirAll(w.bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", w.bundle, "tmpfs", 0, "size=64k,mode=0755"); err != nil {
		t.Fatalf("mount tmpfs at %s: %v", w.bundle, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(w.bundle, unix.MNT_DETACH) })
	// Whitespace before the closing brace is valid JSON the rewrite keeps.
	body := bytes.TrimSuffix(bytes.TrimSpace(config), []byte("}"))
	padded := append(body[:len(body):len(body)], bytes.Repeat([]byte(" "), 40<<10)...)
	w.write(w.config, append(padded, "}\n"...))
}

func noTempFiles(t *testing.T, w *world) {
	if left := tempFiles(t, w.bundle); len(left) != 0 {
		t.Errorf("a failed write left temporary files: %v", left)
	}
}

// TestBadInput runs every row of docs/bad-input.md: rro-runc create with
// containerd's flags (--log F --log-format json), then state and
// delete --force, each through rro-runc over a recording fake runc.
func TestBadInput(t *testing.T) {
	fixture.RequireRoot(t)
	rroRunc := fixture.RroRunc(t)
	for _, tc := range badInputs(t) {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, rroRunc)
			tc.setup(t, w)
			before := snapshot(w.config)
			createArgs := []string{"create", "--bundle", w.bundleArg, w.id}

			r := w.run(createArgs...)
			t.Logf("create: exit %d, stderr: %s", r.code, strings.TrimSpace(r.stderr))
			if r.code != tc.code {
				t.Fatalf("create: exit %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("create: stdout %q; rro-runc must leave stdout to the container", r.stdout)
			}
			var want []string
			if tc.msg != nil {
				want = tc.msg(w)
			}
			checkReport(t, w, "create", r, want)
			if got := reached(t, w.argvLog, append(w.logArgs(), createArgs...)...); got != (tc.code == 0) {
				t.Errorf("create: runtime reached = %v, want %v; runtime calls: %q", got, tc.code == 0, calls(t, w.argvLog))
			}
			now := snapshot(w.config)
			switch tc.config {
			case unchanged:
				if now != before {
					t.Errorf("config.json changed:\nbefore %.300s\nafter  %.300s", before, now)
				}
			case rewritten:
				got := readFile(t, w.config)
				if !bytes.Contains(got, []byte(`"rro"`)) || !bytes.Contains(got, []byte(`"org.rro-runc.applied"`)) {
					t.Errorf("config.json was not rewritten: %s", got)
				}
			}
			if tc.check != nil {
				tc.check(t, w)
			}

			// Pass-through commands never look at the bundle or the policy.
			for _, args := range [][]string{{"state", w.id}, {"delete", "--force", w.id}} {
				r := w.run(args...)
				if r.code != 0 {
					t.Logf("%s: exit %d, stderr: %s", args[0], r.code, strings.TrimSpace(r.stderr))
				}
				if r.code != tc.passCode {
					t.Errorf("%s: exit %d, want %d; stderr: %s", args[0], r.code, tc.passCode, r.stderr)
					continue
				}
				var want []string
				if tc.passMsg != nil {
					want = tc.passMsg(w)
				}
				checkReport(t, w, args[0], r, want)
				if got := reached(t, w.argvLog, append(w.logArgs(), args...)...); got != (tc.passCode == 0) {
					t.Errorf("%s: runtime reached = %v, want %v; runtime calls: %q", args[0], got, tc.passCode == 0, calls(t, w.argvLog))
				}
			}
			if again := snapshot(w.config); again != now {
				t.Errorf("a pass-through command changed config.json")
			}
		})
	}
}

// checkReport checks how a command reported: on failure, every wanted
// string on stderr and exactly one JSON error line in the --log file that
// carries the same message (containerd shows that line); on success,
// nothing from rro-runc in the log. Each run truncates the log first.
func checkReport(t *testing.T, w *world, what string, r result, want []string) {
	t.Helper()
	defer func() {
		if fi, err := os.Lstat(w.log); err == nil && fi.Mode().IsRegular() {
			os.Remove(w.log)
		}
	}()
	for _, s := range want {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("%s: stderr does not name %q: %s", what, s, r.stderr)
		}
	}
	logData, err := os.ReadFile(w.log)
	if r.code == 0 {
		if bytes.Contains(logData, []byte("rro-runc")) {
			t.Errorf("%s: rro-runc wrote to the log file on success: %s", what, logData)
		}
		return
	}
	if w.log == "" || (err != nil && strings.Contains(r.stderr, "cannot open log file")) {
		return
	}
	if err != nil {
		t.Errorf("%s: failed without a log file: %v", what, err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(logData)), "\n")
	if len(lines) != 1 {
		t.Errorf("%s: log has %d lines, want exactly one: %q", what, len(lines), lines)
		return
	}
	var entry struct{ Level, Msg, Time string }
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Errorf("%s: log line %q is not JSON: %v", what, lines[0], err)
		return
	}
	if _, err := time.Parse(time.RFC3339, entry.Time); err != nil || entry.Level != "error" {
		t.Errorf("%s: log line %q: want level error and an RFC 3339 time", what, lines[0])
	}
	if !strings.HasPrefix(entry.Msg, "rro-runc: ") {
		t.Errorf("%s: log message %q does not say it is rro-runc's", what, entry.Msg)
	}
	for _, s := range want {
		if !strings.Contains(entry.Msg, s) {
			t.Errorf("%s: log message does not name %q: %s", what, s, entry.Msg)
		}
	}
}
