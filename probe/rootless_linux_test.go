package probe

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const nobody = 65534

// rootlessResult is what TestHelperRootless prints.
type rootlessResult struct {
	Dir    string
	Cached []bool
	RRO    []bool
	Err    string
}

// TestRootlessCache runs the probe as an unprivileged user (nobody, by
// setpriv) with no RRO_RUNC_CACHE_DIR: the cache goes to a directory only
// that user owns, and a warm call starts no process; a place another user
// prepared (a directory of theirs, a symlink) is never used, and never an
// error.
func TestRootlessCache(t *testing.T) {
	requireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("setpriv (util-linux) missing, and CI=true")
		}
		t.Skip("setpriv missing")
	}
	// Everything nobody runs or writes lives under a directory it can
	// reach: the test binary, the fake runtime and its counter.
	base := t.TempDir()
	must(t, os.Chmod(filepath.Dir(base), 0o755)) // testing's per-test parent is 0700
	must(t, os.Chmod(base, 0o755))
	bin := filepath.Join(base, "probe.test")
	copyFile(t, mustExecutable(t), bin, 0o755)
	rtDir := filepath.Join(base, "rt")
	must(t, os.Mkdir(rtDir, 0o777))
	f := fake{path: filepath.Join(rtDir, "fakert"), counter: filepath.Join(rtDir, "runs")}
	f.write(t, "runc version 1.1.5", featuresWithRRO)
	must(t, os.WriteFile(f.counter, nil, 0o666))
	must(t, os.Chmod(f.counter, 0o666))

	run := func(t *testing.T, env ...string) rootlessResult {
		t.Helper()
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "-test.run=^TestHelperRootless$")
		cmd.Env = append([]string{"PATH=/usr/bin:/bin", "PROBE_ROOTLESS_RUNTIME=" + f.path}, env...)
		out, err := cmd.Output()
		var r rootlessResult
		if err != nil || json.Unmarshal(out, &r) != nil || r.Err != "" {
			t.Fatalf("helper as nobody: %v %s %q", err, out, r.Err)
		}
		return r
	}
	assertPrivate := func(t *testing.T, dir string) {
		t.Helper()
		fi, err := os.Lstat(dir)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 || st.Uid != nobody {
			t.Errorf("%s: %v owned by %d; want a directory 0700 of nobody's", dir, fi.Mode(), st.Uid)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Errorf("%s holds %d entries, want the answer and its lock", dir, len(entries))
		}
	}
	// tmpDir is a fresh /tmp look-alike: world-writable and sticky.
	tmpDir := func(t *testing.T) string {
		d := filepath.Join(base, strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
		must(t, os.Mkdir(d, 0o777))
		must(t, os.Chmod(d, 0o777|os.ModeSticky))
		return d
	}

	t.Run("XDG_RUNTIME_DIR", func(t *testing.T) {
		xdg := filepath.Join(base, "xdg")
		must(t, os.Mkdir(xdg, 0o700))
		must(t, os.Chown(xdg, nobody, nobody))
		before := f.runs(t)
		r := run(t, "XDG_RUNTIME_DIR="+xdg, "TMPDIR="+tmpDir(t))
		if r.Dir != filepath.Join(xdg, "rro-runc") || r.Cached[0] || !r.Cached[1] || !r.RRO[1] {
			t.Errorf("%+v; want a probe, then a cached yes, in %s/rro-runc", r, xdg)
		}
		if n := f.runs(t) - before; n != 2 {
			t.Errorf("the runtime ran %d times, want 2: the warm call starts no process", n)
		}
		assertPrivate(t, r.Dir)
	})
	t.Run("TMPDIR", func(t *testing.T) {
		tmp := tmpDir(t)
		r := run(t, "TMPDIR="+tmp)
		if r.Dir != filepath.Join(tmp, "rro-runc-65534") || r.Cached[0] || !r.Cached[1] {
			t.Errorf("%+v; want a probe, then a cached yes, in %s/rro-runc-65534", r, tmp)
		}
		assertPrivate(t, r.Dir)
	})
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, place, elsewhere string)
	}{
		{"another user's directory", func(t *testing.T, place, elsewhere string) {
			must(t, os.Mkdir(place, 0o777))
			must(t, os.Chmod(place, 0o777))
		}},
		{"a symlink to another user's directory", func(t *testing.T, place, elsewhere string) {
			must(t, os.Symlink(elsewhere, place))
		}},
		{"nobody's own directory, writable by all", func(t *testing.T, place, elsewhere string) {
			must(t, os.Mkdir(place, 0o777))
			must(t, os.Chmod(place, 0o777))
			must(t, os.Chown(place, nobody, nobody))
		}},
	} {
		t.Run("planted: "+tc.name, func(t *testing.T) {
			tmp := tmpDir(t)
			place := filepath.Join(tmp, "rro-runc-65534")
			elsewhere := filepath.Join(base, "elsewhere-"+strings.ReplaceAll(tc.name, " ", "-"))
			must(t, os.Mkdir(elsewhere, 0o777))
			must(t, os.Chmod(elsewhere, 0o777))
			tc.plant(t, place, elsewhere)
			before := f.runs(t)
			r := run(t, "TMPDIR="+tmp)
			if r.Cached[0] || r.Cached[1] || !r.RRO[0] || !r.RRO[1] {
				t.Errorf("%+v; want two fresh yes answers: the planted place is not used, and not an error", r)
			}
			if n := f.runs(t) - before; n != 4 {
				t.Errorf("the runtime ran %d times, want 4", n)
			}
			for _, d := range []string{place, elsewhere} {
				if entries, _ := os.ReadDir(d); len(entries) != 0 {
					t.Errorf("%s was written: %v", d, entries)
				}
			}
		})
	}
}

// TestHelperRootless is the process TestRootlessCache runs as nobody: two
// probes with the default cache place, as JSON on stdout.
func TestHelperRootless(t *testing.T) {
	path := os.Getenv("PROBE_ROOTLESS_RUNTIME")
	if path == "" {
		t.Skip("helper process for TestRootlessCache")
	}
	r := rootlessResult{Dir: DefaultDir(os.Getenv)}
	for range 2 {
		rt, err := (&Prober{}).Runtime(path)
		if err != nil {
			r.Err = err.Error()
		}
		r.Cached, r.RRO = append(r.Cached, rt.Cached), append(r.RRO, rt.RRO)
	}
	json.NewEncoder(os.Stdout).Encode(r)
	os.Exit(0)
}

func mustExecutable(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	must(t, err)
	return p
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	must(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	must(t, err)
	_, err = io.Copy(out, in)
	must(t, err)
	must(t, out.Close())
}
