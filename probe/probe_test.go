package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rro-runc/rro-runc/internal/elfwrap"
)

const (
	featuresWithRRO        = `{"ociVersionMin":"1.0.0","ociVersionMax":"1.1.0","mountOptions":["bind","rbind","ro","rro","rw"]}`
	featuresWithoutRRO     = `{"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2","mountOptions":["bind","rbind","ro","rw"]}`
	featuresNoMountOptions = `{"ociVersionMin":"1.0.0","ociVersionMax":"1.1.0"}`
)

// Special answers of a fake runtime.
const (
	noFeatures = ""     // features: "unknown command features" on stderr, exit 1 (crun < 1.8.6)
	hang       = "HANG" // sleeps in a child of the shell, so only a group kill ends it
	exit2      = "EXIT2"
)

func TestMain(m *testing.M) {
	elfwrap.Main()
	os.Exit(m.Run())
}

// fake is a runtime, an ELF executable that runs a shell script (the
// cache vouches only for ELF executables), which logs each of its runs to
// a counter file.
type fake struct {
	path, counter string
}

// newFake writes a runtime whose --version prints version (first line)
// and whose features prints features; see the special answers above.
func newFake(t testing.TB, version, features string) fake {
	t.Helper()
	dir := t.TempDir()
	f := fake{path: filepath.Join(dir, "fakert"), counter: filepath.Join(dir, "runs")}
	f.write(t, version, features)
	return f
}

func (f fake) write(t testing.TB, version, features string) {
	t.Helper()
	elfwrap.Write(t, f.path, f.script(version, features))
}

// script is what the fake runs: see newFake.
func (f fake) script(version, features string) string {
	body := func(out, missing, extra string) string {
		switch out {
		case hang:
			return "sleep 30 & echo $! >> " + shq(f.pids()) + "; wait; exit 0"
		case exit2:
			return "echo 'flag provided but not defined' >&2; exit 2"
		case "":
			return missing
		}
		return "printf '%s\\n' " + shq(out) + extra
	}
	return fmt.Sprintf("#!/bin/sh\necho \"$1\" >> %s\ncase \"$1\" in\n--version) %s ;;\nfeatures) %s ;;\n*) exit 2 ;;\nesac\n",
		shq(f.counter), body(version, "exit 1", " 'commit: fake'"), body(features, "echo 'unknown command features' >&2; exit 1", ""))
}

// pids is where a hanging fake runtime notes the pid of its child.
func (f fake) pids() string { return f.counter + ".pids" }

// runs is how many times the fake runtime was started.
func (f fake) runs(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(f.counter)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestRuntime(t *testing.T) {
	tests := []struct {
		name, version, features string
		wantRRO                 bool
		wantMethod              string
		wantHasFeatures         bool
		wantReason              []string
	}{
		{"runc 1.1.5 features lists rro", "runc version 1.1.5+ds1", featuresWithRRO, true, "features", true, []string{"features lists rro"}},
		{"runc 1.0.0 has no features", "runc version 1.0.0", noFeatures, false, "version", false, []string{"no features command", "unknown command features", "runc 1.0.0 < 1.1.0"}},
		{"features without rro", "runc version 1.1.0", featuresWithoutRRO, false, "features", true, []string{"features do not list rro, runc 1.1.0"}},
		{"nil mountOptions falls back to version", "runc version 1.1.2", featuresNoMountOptions, true, "version", true, []string{"features does not list mount options; runc 1.1.2 >= 1.1.0"}},
		{"nil mountOptions and too old", "runc version 1.0.3", featuresNoMountOptions, false, "version", true, []string{"runc 1.0.3 < 1.1.0"}},
		{"crun 1.8.1 by version", "crun version 1.8.1", noFeatures, true, "version", false, []string{"no features command; crun 1.8.1 >= 1.4 implements rro"}},
		{"crun 1.4 first with rro", "crun version 1.4", noFeatures, true, "version", false, nil},
		{"crun 1.3 too old", "crun version 1.3", noFeatures, false, "version", false, []string{"no features command", "crun 1.3 < 1.4"}},
		{"crun 1.8.6 features lists rro", "crun version 1.8.6", featuresWithRRO, true, "features", true, nil},
		{"youki features omit rro", "youki version 0.5.2", featuresWithoutRRO, true, "version", true, []string{"youki's features omit rro", "youki 0.5.2 >= 0.0.5"}},
		{"youki 0.0.5 without features", "youki version 0.0.5", noFeatures, true, "version", false, nil},
		{"youki 0.0.4 too old", "youki version 0.0.4", noFeatures, false, "version", false, []string{"youki 0.0.4 < 0.0.5"}},
		{"unknown runtime listing rro", "fancy version 9.9", featuresWithRRO, true, "features", true, nil},
		{"unknown runtime without features", "fancy version 9.9", noFeatures, false, "version", false, []string{"fancy 9.9 is not a runtime known to implement rro"}},
		{"unreadable version number", "runc version banana", noFeatures, false, "version", false, []string{`cannot read runc's version "banana"`}},
		{"garbage version", "hello world", noFeatures, false, "version", false, []string{`--version printed "hello world"`}},
		{"garbage features", "runc version 1.1.5", "not json", true, "version", false, []string{"features output is not JSON"}},
		{"garbage features, old runc", "runc version 1.0.0", "not json", false, "version", false, []string{"features output is not JSON: not json"}},
		{"--version fails, features lists rro", exit2, featuresWithRRO, true, "features", true, nil},
		{"--version fails, no features", exit2, noFeatures, false, "version", false, []string{"--version: exit status 2: flag provided but not defined"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.version, tc.features)
			p := &Prober{CacheDir: t.TempDir()}
			rt, err := p.Runtime(f.path)
			if err != nil {
				t.Fatal(err)
			}
			if rt.RRO != tc.wantRRO || rt.Method != tc.wantMethod || rt.HasFeatures != tc.wantHasFeatures || rt.Cached || rt.Path != f.path {
				t.Errorf("got %+v, want RRO=%v Method=%s HasFeatures=%v, uncached, Path %s", rt, tc.wantRRO, tc.wantMethod, tc.wantHasFeatures, f.path)
			}
			for _, s := range tc.wantReason {
				if !strings.Contains(rt.Reason, s) {
					t.Errorf("reason %q does not contain %q", rt.Reason, s)
				}
			}
			if !tc.wantRRO && !strings.Contains(rt.Reason, "runtime "+f.path+" does not support rro") {
				t.Errorf("reason %q does not name the runtime", rt.Reason)
			}
			if name, version, _ := strings.Cut(tc.version, " version "); strings.Contains(tc.version, " version ") && (rt.Name != name || rt.Version != version) {
				t.Errorf("name %q version %q, want %q %q", rt.Name, rt.Version, name, version)
			}
			if n := f.runs(t); n != 2 {
				t.Errorf("runtime run %d times, want 2 (--version, features)", n)
			}
		})
	}
}

func TestParseNumbers(t *testing.T) {
	tests := []struct {
		in   string
		want [3]int
		ok   bool
	}{
		{"1.1.5", [3]int{1, 1, 5}, true},
		{"1.1.5+ds1", [3]int{1, 1, 5}, true},
		{"1.1.0-rc.1", [3]int{1, 1, 0}, true},
		{"1.8", [3]int{1, 8, 0}, true},
		{"v0.3.0", [3]int{0, 3, 0}, true},
		{"2", [3]int{2, 0, 0}, true},
		{"1.2.3.4", [3]int{}, false},
		{"", [3]int{}, false},
		{"release-20231009.0", [3]int{}, false},
		{"1..2", [3]int{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseNumbers(tc.in)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("parseNumbers(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestRuntimeHangs: a hung runtime costs one timeout (the two runs go side
// by side), its whole process group is killed, and the non-answer is not
// cached.
func TestRuntimeHangs(t *testing.T) {
	tests := []struct {
		name, version, features string
		wantRRO                 bool
		wantReason              string
	}{
		{"both hang", hang, hang, false, "features timed out after 2s; --version: timed out after 2s"},
		{"features hangs", "crun version 1.8.1", hang, true, "features timed out after 2s; crun 1.8.1 >= 1.4"},
		{"--version hangs", hang, featuresWithRRO, true, "features lists rro"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.version, tc.features)
			p := &Prober{CacheDir: t.TempDir(), Timeout: 2 * time.Second}
			start := time.Now()
			rt, err := p.Runtime(f.path)
			if err != nil || rt.RRO != tc.wantRRO || !strings.Contains(rt.Reason, tc.wantReason) {
				t.Fatalf("got %+v, %v; want RRO=%v, reason containing %q", rt, err, tc.wantRRO, tc.wantReason)
			}
			// Both runs time out side by side, not one after the other
			// (4s), and killing only the shell would leave sleep holding
			// the pipes until WaitDelay (2s more). The timeout is 2s, not
			// less, because the fake, a copy of this test binary, can take
			// most of a second to start on a loaded machine.
			if d := time.Since(start); d > 3500*time.Millisecond {
				t.Errorf("probe took %v; want about one 2s timeout", d)
			}
			assertAllDead(t, f.pids())
			file, _ := p.CacheFile(f.path)
			if _, err := os.Stat(file); err == nil {
				t.Errorf("an answer with a timed-out run was cached")
			}
		})
	}
}

// assertAllDead waits a little for the processes listed in file to die:
// killed with their group, they are reaped by init.
func assertAllDead(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range strings.Fields(string(b)) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			stat, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil || strings.Contains(string(stat), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("child %s of the timed-out runtime still running: %s", pid, stat)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestRunEnvironment: the runtime runs with output bounded, and marked as
// run by rro-runc so that a runtime leading back to rro-runc stops there.
func TestRunEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rt")
	script := "#!/bin/sh\ncase \"$1\" in\n--version) echo \"chain=$RRO_RUNC_EXECED\";;\nfeatures) head -c 3000000 /dev/zero; head -c 100000 /dev/zero >&2;;\nesac\n"
	must(t, os.WriteFile(path, []byte(script), 0o755))
	p := &Prober{}
	if r := p.run(path, "--version"); r.err != nil || string(r.stdout) != "chain="+path+"\n" {
		t.Errorf("--version: %q, %v; want the chain variable set to %s", r.stdout, r.err, path)
	}
	if r := p.run(path, "features"); r.err != nil || len(r.stdout) != maxStdout || len(r.stderr) != maxStderr {
		t.Errorf("features: %d bytes of stdout, %d of stderr, %v; want %d and %d, and no broken pipe", len(r.stdout), len(r.stderr), r.err, maxStdout, maxStderr)
	}
}

func TestRuntimeErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("PATH", dir)
	tests := []struct{ name, path string }{
		{"missing", filepath.Join(dir, "missing")},
		{"not executable", write("noexec", "#!/bin/sh\n", 0o644)},
		{"directory", dir},
		{"not a program", write("garbage", "\x00\x01garbage", 0o755)},
		{"missing interpreter", write("badinterp", "#!/nonexistent/sh\n", 0o755)},
		{"not in PATH", "no-such-runtime"},
		{"empty", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Prober{CacheDir: filepath.Join(dir, "cache")}
			rt, err := p.Runtime(tc.path)
			if !errors.Is(err, ErrRuntime) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("Runtime(%q) = %+v, %v; want ErrRuntime naming it", tc.path, rt, err)
			}
			if entries, _ := os.ReadDir(p.CacheDir); len(entries) != 0 {
				t.Errorf("a failure was cached: %v", entries)
			}
		})
	}
}

// TestRuntimeResolvesPath: a bare name is found in PATH and a relative path
// made absolute, so each build has one cache entry however it is named.
func TestRuntimeResolvesPath(t *testing.T) {
	f := newFake(t, "runc version 1.1.5", featuresWithRRO)
	dir := filepath.Dir(f.path)
	t.Setenv("PATH", dir)
	t.Chdir(dir)
	p := &Prober{CacheDir: t.TempDir()}
	want, err := p.CacheFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"fakert", "./fakert", f.path} {
		rt, err := p.Runtime(name)
		if err != nil || rt.Path != f.path || rt.Cached != (i > 0) {
			t.Errorf("Runtime(%q) = %+v, %v; want path %s, cached after the first", name, rt, err, f.path)
		}
		if got, err := p.CacheFile(name); err != nil || got != want {
			t.Errorf("CacheFile(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

// TestCache: a warm cache starts no process; any change to the runtime or
// the boot, and any cache file that cannot be trusted, means a new probe
// and a repaired cache.
func TestCache(t *testing.T) {
	t.Run("warm", func(t *testing.T) {
		f := newFake(t, "crun version 1.8.1", noFeatures)
		dir := filepath.Join(t.TempDir(), "a", "b")
		cold := &Prober{CacheDir: dir}
		first, err := cold.Runtime(f.path)
		if err != nil || first.Cached || cold.execs.Load() != 2 || f.runs(t) != 2 {
			t.Fatalf("cold probe: %+v, %v, %d runs; want uncached, 2 runs", first, err, f.runs(t))
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("cache dir %v, %v; want created 0700", fi, err)
		}
		file, _ := cold.CacheFile(f.path)
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("cache file %v, %v; want 0600", fi, err)
		}
		for range 3 {
			warm := &Prober{CacheDir: dir}
			second, err := warm.Runtime(f.path)
			if err != nil || !second.Cached || warm.execs.Load() != 0 {
				t.Fatalf("warm probe: %+v, %v, %d execs; want cached, 0 execs", second, err, warm.execs.Load())
			}
			second.Cached = false
			if second != first {
				t.Errorf("cached answer %+v differs from probed %+v", second, first)
			}
		}
		if n := f.runs(t); n != 2 {
			t.Errorf("runtime ran %d times in all, want 2", n)
		}
	})

	type setup func(t *testing.T, f fake, file string)
	editEntry := func(edit func(*cacheEntry)) setup {
		return func(t *testing.T, f fake, file string) {
			var e cacheEntry
			b, _ := os.ReadFile(file)
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			edit(&e)
			b, _ = json.Marshal(e)
			must(t, os.WriteFile(file, b, 0o600))
		}
	}
	tests := []struct {
		name      string
		change    setup
		wantRRO   bool
		noRepair  bool // the cache cannot be rewritten
		needsRoot bool
	}{
		{"runtime upgraded in place", func(t *testing.T, f fake, file string) {
			f.write(t, "crun version 1.3", noFeatures)
		}, false, false, false},
		{"runtime touched", func(t *testing.T, f fake, file string) {
			later := time.Now().Add(time.Hour)
			must(t, os.Chtimes(f.path, later, later))
		}, true, false, false},
		{"runtime replaced by rename", func(t *testing.T, f fake, file string) {
			b, _ := os.ReadFile(f.path)
			must(t, os.WriteFile(f.path+".new", b, 0o755))
			must(t, os.Rename(f.path+".new", f.path))
		}, true, false, false},
		{"same size and mtime, new contents", func(t *testing.T, f fake, file string) {
			fi, _ := os.Stat(f.path)
			b, _ := os.ReadFile(f.path)
			elfwrap.WriteScript(t, f.path, f.script("crun version 1.3.0", noFeatures))
			must(t, os.WriteFile(f.path, b, 0o755))
			must(t, os.Chtimes(f.path, fi.ModTime(), fi.ModTime()))
		}, false, false, false},
		{"other boot", editEntry(func(e *cacheEntry) { e.Key.BootID = "another-boot" }), true, false, false},
		{"entry of another runtime", editEntry(func(e *cacheEntry) { e.Key.Path, e.Runtime.Path = "/usr/bin/other", "/usr/bin/other" }), true, false, false},
		{"answer for another path", editEntry(func(e *cacheEntry) { e.Runtime.Path = "/usr/bin/other" }), true, false, false},
		{"corrupt", func(t *testing.T, f fake, file string) {
			must(t, os.WriteFile(file, []byte(`{"key":{"path":`), 0o600))
		}, true, false, false},
		{"empty", func(t *testing.T, f fake, file string) {
			must(t, os.WriteFile(file, nil, 0o600))
		}, true, false, false},
		{"oversized", func(t *testing.T, f fake, file string) {
			b, _ := os.ReadFile(file)
			must(t, os.WriteFile(file, append(b, make([]byte, maxCacheFile)...), 0o600))
		}, true, false, false},
		{"writable by others", func(t *testing.T, f fake, file string) {
			must(t, os.Chmod(file, 0o622))
		}, true, false, false},
		{"owned by another user", func(t *testing.T, f fake, file string) {
			must(t, os.Chown(file, 1234, 1234))
		}, true, false, true},
		{"symlink", func(t *testing.T, f fake, file string) {
			must(t, os.Rename(file, file+".real"))
			must(t, os.Symlink(file+".real", file))
		}, true, false, false},
		{"directory", func(t *testing.T, f fake, file string) {
			must(t, os.Remove(file))
			must(t, os.Mkdir(file, 0o700))
		}, true, false, false},
		{"directory with contents", func(t *testing.T, f fake, file string) {
			must(t, os.Remove(file))
			must(t, os.MkdirAll(filepath.Join(file, "x"), 0o700))
		}, true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsRoot {
				requireRoot(t)
			}
			f := newFake(t, "crun version 1.8.1", noFeatures)
			dir := t.TempDir()
			if _, err := (&Prober{CacheDir: dir}).Runtime(f.path); err != nil {
				t.Fatal(err)
			}
			p := &Prober{CacheDir: dir}
			file, _ := p.CacheFile(f.path)
			tc.change(t, f, file)
			rt, err := p.Runtime(f.path)
			if err != nil || rt.Cached || rt.RRO != tc.wantRRO || p.execs.Load() != 2 {
				t.Fatalf("after the change: %+v, %v, %d execs; want a fresh probe saying RRO=%v", rt, err, p.execs.Load(), tc.wantRRO)
			}
			again := &Prober{CacheDir: dir}
			rt2, err := again.Runtime(f.path)
			if err != nil || rt2.RRO != rt.RRO {
				t.Fatalf("second call: %+v, %v", rt2, err)
			}
			if !tc.noRepair && !rt2.Cached {
				t.Errorf("cache not repaired: second call ran the runtime %d times", again.execs.Load())
			}
			assertOnlyCacheFiles(t, dir)
		})
	}

	t.Run("unwritable cache dir", func(t *testing.T) {
		f := newFake(t, "runc version 1.1.5", featuresWithRRO)
		file := filepath.Join(t.TempDir(), "a-file")
		must(t, os.WriteFile(file, nil, 0o600))
		for _, dir := range []string{file, filepath.Join(file, "sub")} {
			p := &Prober{CacheDir: dir}
			for range 2 {
				rt, err := p.Runtime(f.path)
				if err != nil || rt.Cached || !rt.RRO {
					t.Fatalf("cache dir %s: %+v, %v; want an uncached yes", dir, rt, err)
				}
			}
		}
		if b, _ := os.ReadFile(file); len(b) != 0 {
			t.Errorf("the file posing as cache dir was written: %q", b)
		}
	})
}

// TestConcurrentColdProbes: many creates at once on an empty cache all get
// the answer from one probe (two runs of the runtime in all: the others
// wait on the entry's lock and read its answer), and they leave the
// answer and its lock file and nothing else.
func TestConcurrentColdProbes(t *testing.T) {
	f := newFake(t, "runc version 1.1.5", featuresWithRRO)
	dir := t.TempDir()
	shared := &Prober{CacheDir: dir}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			p := shared
			if i%2 == 0 {
				p = &Prober{CacheDir: dir}
			}
			rt, err := p.Runtime(f.path)
			if err == nil && !rt.RRO {
				err = fmt.Errorf("not supported: %s", rt.Reason)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := f.runs(t); n != 2 {
		t.Errorf("50 concurrent cold probes ran the runtime %d times, want 2 (one probe: --version and features)", n)
	}
	assertWarm(t, f, dir)
}

// TestConcurrentColdProcesses is TestConcurrentColdProbes with real
// processes, as 50 rro-runc instances would run.
func TestConcurrentColdProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 50 processes")
	}
	f := newFake(t, "crun version 1.8.1", noFeatures)
	dir := t.TempDir()
	cmds := make([]*exec.Cmd, 50)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestHelperProbe$")
		cmds[i].Env = append(os.Environ(), "PROBE_HELPER_RUNTIME="+f.path, "PROBE_HELPER_CACHE="+dir)
	}
	outs := make([][]byte, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Go(func() { outs[i], errs[i] = cmd.Output() })
	}
	wg.Wait()
	for i := range cmds {
		var rt Runtime
		if errs[i] != nil || json.Unmarshal(outs[i], &rt) != nil || !rt.RRO {
			t.Errorf("process %d: %v, %q", i, errs[i], outs[i])
		}
	}
	if n := f.runs(t); n != 2 {
		t.Errorf("50 concurrent cold processes ran the runtime %d times, want 2 (one probe: --version and features)", n)
	}
	assertWarm(t, f, dir)
}

// TestHelperProbe is the process TestConcurrentColdProcesses runs.
func TestHelperProbe(t *testing.T) {
	path := os.Getenv("PROBE_HELPER_RUNTIME")
	if path == "" {
		t.Skip("helper process for TestConcurrentColdProcesses")
	}
	rt, err := (&Prober{CacheDir: os.Getenv("PROBE_HELPER_CACHE")}).Runtime(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(rt)
	os.Exit(0)
}

// assertWarm checks that dir holds exactly one cache file, and that it
// answers without running the runtime.
func assertWarm(t *testing.T, f fake, dir string) {
	t.Helper()
	assertOnlyCacheFiles(t, dir)
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("cache dir holds %d entries, want the answer and its lock", len(entries))
	}
	before := f.runs(t)
	if rt, err := (&Prober{CacheDir: dir}).Runtime(f.path); err != nil || !rt.Cached || !rt.RRO {
		t.Errorf("cache not valid afterwards: %+v %v", rt, err)
	}
	if n := f.runs(t) - before; n != 0 {
		t.Errorf("warm probe ran the runtime %d times", n)
	}
}

// assertOnlyCacheFiles fails on anything but cache files in dir: no
// temporary files, no locks.
func assertOnlyCacheFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "runtime-") {
			t.Errorf("stray file in the cache dir: %s", e.Name())
		}
	}
}

// TestRealRuntimes: on this machine runc answers by features and crun
// 1.8.1 by version (crun learnt features in 1.8.6).
func TestRealRuntimes(t *testing.T) {
	for _, tc := range []struct{ name, wantMethod string }{{"runc", "features"}, {"crun", "version"}} {
		t.Run(tc.name, func(t *testing.T) {
			path, err := exec.LookPath(tc.name)
			if err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s not installed and CI=true", tc.name)
				}
				t.Skipf("%s not installed", tc.name)
			}
			dir := t.TempDir()
			rt, err := (&Prober{CacheDir: dir}).Runtime(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", rt)
			if !rt.RRO || rt.Name != tc.name || rt.Version == "" {
				t.Errorf("%s: want RRO from a named, versioned runtime: %+v", tc.name, rt)
			}
			if tc.name == "crun" && rt.HasFeatures {
				t.Logf("crun has a features command here (1.8.6 or newer)")
			} else if rt.Method != tc.wantMethod {
				t.Errorf("%s decided by %s, want %s", tc.name, rt.Method, tc.wantMethod)
			}
			warm := &Prober{CacheDir: dir}
			if rt2, err := warm.Runtime(path); err != nil || !rt2.Cached || warm.execs.Load() != 0 {
				t.Errorf("second probe of %s not from the cache: %+v, %v", tc.name, rt2, err)
			}
		})
	}
}

func TestKernel(t *testing.T) {
	k := ProbeKernel()
	osrelease, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if k.Release != strings.TrimSpace(string(osrelease)) || k.Method == "" {
		t.Errorf("kernel probe %+v, want release %q", k, osrelease)
	}
	// Every machine this project runs on has Linux >= 5.12.
	// The invalid call is refused before any lookup: EINVAL for the size
	// (EBADF would do too), never a permission or lookup error.
	if !k.MountSetattr || !(strings.Contains(k.Method, "EINVAL") || strings.Contains(k.Method, "EBADF")) {
		t.Errorf("mount_setattr not found on %s: %s", k.Release, k.Method)
	}
}

func TestBootID(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skip("no boot id here")
	}
	if got := BootID(); got != strings.TrimSpace(string(b)) || len(got) != 36 {
		t.Errorf("BootID() = %q, want %q", got, b)
	}
}

func TestSupport(t *testing.T) {
	yes := Kernel{Release: "6.1.0", MountSetattr: true, Method: "mount_setattr(2) present"}
	no := Kernel{Release: "5.10.0", Method: "mount_setattr(2) returned ENOSYS: not in this kernel"}
	ok := Runtime{RRO: true, Reason: "features lists rro"}
	bad := Runtime{Reason: "runtime /x does not support rro"}
	tests := []struct {
		name string
		k    Kernel
		rt   Runtime
		want bool
		in   string
	}{
		{"both", yes, ok, true, "kernel 6.1.0 has mount_setattr; features lists rro"},
		{"old kernel", no, ok, false, "kernel 5.10.0 cannot do recursive read-only mounts (mount_setattr(2) returned ENOSYS"},
		{"old runtime", yes, bad, false, "runtime /x does not support rro"},
		{"neither: the kernel is named first", no, bad, false, "kernel 5.10.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := Support(tc.k, tc.rt)
			if got != tc.want || !strings.Contains(reason, tc.in) {
				t.Errorf("Support = %v %q; want %v containing %q", got, reason, tc.want, tc.in)
			}
		})
	}
}

// BenchmarkRuntimeWarm is the cost probe adds to every container create
// once the cache is warm.
func BenchmarkRuntimeWarm(b *testing.B) {
	f := newFake(b, "runc version 1.1.5", featuresWithRRO)
	p := &Prober{CacheDir: b.TempDir()}
	if _, err := p.Runtime(f.path); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rt, err := p.Runtime(f.path); err != nil || !rt.Cached {
			b.Fatal("not warm:", err)
		}
	}
}

func BenchmarkProbeKernel(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !ProbeKernel().MountSetattr {
			b.Fatal("no mount_setattr")
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root, and CI=true")
	}
	t.Skip("needs root")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
