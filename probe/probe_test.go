package probe

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const featuresWithRRO = `{"ociVersionMin":"1.0.0","ociVersionMax":"1.1.0","mountOptions":["bind","rbind","ro","rro","rw"]}`
const featuresWithoutRRO = `{"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2","mountOptions":["bind","rbind","ro","rw"]}`
const featuresNoMountOptions = `{"ociVersionMin":"1.0.0","ociVersionMax":"1.1.0"}`

// fakeRuntime writes a runtime answering --version and features as told;
// features "" means "unknown command features", exit 1 (crun < 1.8.6).
func fakeRuntime(t *testing.T, version, features string) string {
	t.Helper()
	featuresCase := `echo "unknown command features" >&2; exit 1`
	if features != "" {
		featuresCase = "echo '" + features + "'"
	}
	p := filepath.Join(t.TempDir(), "fakert")
	body := fmt.Sprintf("#!/bin/sh\ncase \"$1\" in\n--version) printf '%%s\\n' %q 'commit: x';;\nfeatures) %s;;\n*) exit 2;;\nesac\n", version, featuresCase)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRuntime(t *testing.T) {
	tests := []struct {
		name, version, features string
		wantRRO                 bool
		wantMethod              string
		wantReason              []string
	}{
		{"runc 1.1 features lists rro", "runc version 1.1.5+ds1", featuresWithRRO, true, "features", []string{"features lists rro"}},
		{"runc 1.0 has no features", "runc version 1.0.3", "", false, "version", []string{"no features command", "1.0.3", "since 1.1.0"}},
		{"features without rro", "runc version 1.1.0", featuresWithoutRRO, false, "features", []string{"does not list"}},
		{"crun 1.8.1 by version", "crun version 1.8.1", "", true, "version", []string{"no features command", "crun 1.8.1 implements rro"}},
		{"crun 1.3 too old", "crun version 1.3", "", false, "version", []string{"does not support rro (no features command, version 1.3"}},
		{"youki features omit rro", "youki version 0.5.2", featuresWithoutRRO, true, "version", []string{"youki 0.5.2 implements rro"}},
		{"youki 0.0.5 without features", "youki version 0.0.5", "", true, "version", nil},
		{"nil mountOptions falls back to version", "runc version 1.1.2", featuresNoMountOptions, true, "version", []string{"features does not say"}},
		{"unknown runtime", "fancy version 9.9", "", false, "version", []string{"fancy 9.9 is not a runtime known"}},
		{"garbage version", "hello world", "", false, "version", []string{"--version is unreadable"}},
		{"garbage features", "runc version 1.1.5", "not json", true, "version", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := fakeRuntime(t, tc.version, tc.features)
			p := &Prober{CacheDir: t.TempDir()}
			rt, err := p.Runtime(path)
			if err != nil {
				t.Fatal(err)
			}
			if rt.RRO != tc.wantRRO || rt.Method != tc.wantMethod || rt.Cached {
				t.Errorf("got RRO=%v method=%s cached=%v, want RRO=%v method=%s; reason %q", rt.RRO, rt.Method, rt.Cached, tc.wantRRO, tc.wantMethod, rt.Reason)
			}
			for _, s := range tc.wantReason {
				if !strings.Contains(rt.Reason, s) {
					t.Errorf("reason %q does not contain %q", rt.Reason, s)
				}
			}
			if !rt.RRO && !strings.Contains(rt.Reason, path) {
				t.Errorf("reason %q does not name the runtime", rt.Reason)
			}
		})
	}
}

func TestCache(t *testing.T) {
	path := fakeRuntime(t, "crun version 1.8.1", "")
	dir := t.TempDir()
	p := &Prober{CacheDir: dir}
	first, err := p.Runtime(path)
	if err != nil || first.Cached || p.execs != 2 {
		t.Fatalf("cold probe: %+v, %v, %d execs; want uncached, 2 execs", first, err, p.execs)
	}

	warm := &Prober{CacheDir: dir}
	second, err := warm.Runtime(path)
	if err != nil || !second.Cached || warm.execs != 0 {
		t.Fatalf("warm probe: %+v, %v, %d execs; want cached, 0 execs", second, err, warm.execs)
	}
	second.Cached = false
	if second != first {
		t.Errorf("cached answer %+v differs from probed %+v", second, first)
	}

	t.Run("runtime replaced", func(t *testing.T) {
		// A package upgrade changes size and mtime: the answer must follow.
		time.Sleep(10 * time.Millisecond)
		body := "#!/bin/sh\ncase \"$1\" in --version) echo 'crun version 1.3';; *) exit 1;; esac\n"
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		p := &Prober{CacheDir: dir}
		rt, err := p.Runtime(path)
		if err != nil || rt.Cached || rt.RRO || p.execs == 0 {
			t.Errorf("after replacing the runtime: %+v, %v, %d execs; want a fresh 'no'", rt, err, p.execs)
		}
	})
	t.Run("corrupt cache", func(t *testing.T) {
		if err := os.WriteFile(p.CacheFile(path), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		p := &Prober{CacheDir: dir}
		if _, err := p.Runtime(path); err != nil || p.execs == 0 {
			t.Fatalf("corrupt cache: %v, %d execs; want a re-probe", err, p.execs)
		}
		var e cacheEntry
		b, _ := os.ReadFile(p.CacheFile(path))
		if json.Unmarshal(b, &e) != nil || e.Runtime.Path != path {
			t.Errorf("cache not repaired: %q", b)
		}
	})
	t.Run("unwritable cache", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "a-file")
		os.WriteFile(file, nil, 0o600)
		p := &Prober{CacheDir: filepath.Join(file, "sub")}
		for i := 0; i < 2; i++ {
			rt, err := p.Runtime(path)
			if err != nil || rt.Cached {
				t.Fatalf("unwritable cache dir: %+v, %v", rt, err)
			}
		}
	})
}

func TestRuntimeErrors(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "noexec")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	for _, path := range []string{filepath.Join(dir, "missing"), notExec} {
		if _, err := (&Prober{CacheDir: dir}).Runtime(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Runtime(%s) = %v, want an error naming it", path, err)
		}
	}
}

func TestRuntimeHangs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hang")
	os.WriteFile(p, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755)
	pr := &Prober{CacheDir: t.TempDir(), Timeout: 200 * time.Millisecond}
	start := time.Now()
	rt, err := pr.Runtime(p)
	if err != nil || rt.RRO {
		t.Fatalf("hung runtime: %+v, %v; want an unsupported answer", rt, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("probe of a hung runtime did not time out")
	}
	if _, err := os.Stat(pr.CacheFile(p)); err == nil {
		t.Errorf("a timed-out probe was cached")
	}
}

// TestConcurrentColdProbes: many creates at once on an empty cache all get
// the answer, and leave one valid cache file and no temporary files.
func TestConcurrentColdProbes(t *testing.T) {
	path := fakeRuntime(t, "runc version 1.1.5", featuresWithRRO)
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt, err := (&Prober{CacheDir: dir}).Runtime(path)
			if err == nil && !rt.RRO {
				err = fmt.Errorf("not supported: %s", rt.Reason)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d entries, want exactly one cache file: %v", len(entries), entries)
	}
	if rt, err := (&Prober{CacheDir: dir}).Runtime(path); err != nil || !rt.Cached {
		t.Errorf("cache not valid after concurrent probes: %+v %v", rt, err)
	}
}

// TestRealRuntimes: on this machine runc answers by features and crun
// 1.8.1 by version.
func TestRealRuntimes(t *testing.T) {
	for name, wantMethod := range map[string]string{"runc": "features", "crun": "version"} {
		t.Run(name, func(t *testing.T) {
			path, err := exec.LookPath(name)
			if err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s not installed and CI=true", name)
				}
				t.Skipf("%s not installed", name)
			}
			rt, err := (&Prober{CacheDir: t.TempDir()}).Runtime(path)
			if err != nil {
				t.Fatal(err)
			}
			if !rt.RRO {
				t.Errorf("%s: RRO false: %s", name, rt.Reason)
			}
			if name == "crun" && rt.HasFeatures {
				t.Logf("crun has a features command here (newer than 1.8.6?): %+v", rt)
			} else if rt.Method != wantMethod {
				t.Errorf("%s decided by %s, want %s: %+v", name, rt.Method, wantMethod, rt)
			}
		})
	}
}

func TestKernel(t *testing.T) {
	k := ProbeKernel()
	if k.Release == "" || k.Method == "" {
		t.Errorf("kernel probe incomplete: %+v", k)
	}
	// Every machine this project runs on has Linux >= 5.12.
	if !k.MountSetattr {
		t.Errorf("mount_setattr not found on %s: %s", k.Release, k.Method)
	}
}

func TestSupport(t *testing.T) {
	yes := Kernel{Release: "6.1", MountSetattr: true}
	no := Kernel{Release: "5.10.0", Method: "mount_setattr(2) returned ENOSYS"}
	ok := Runtime{RRO: true, Reason: "features lists rro"}
	bad := Runtime{Reason: "runtime /x does not support rro"}
	for _, tc := range []struct {
		k    Kernel
		rt   Runtime
		want bool
		in   string
	}{{yes, ok, true, "features lists rro"}, {no, ok, false, "kernel 5.10.0"}, {yes, bad, false, "/x does not support"}} {
		got, reason := Support(tc.k, tc.rt)
		if got != tc.want || !strings.Contains(reason, tc.in) {
			t.Errorf("Support(%+v, %+v) = %v %q; want %v containing %q", tc.k, tc.rt, got, reason, tc.want, tc.in)
		}
	}
}

func BenchmarkRuntimeWarm(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "rt")
	os.WriteFile(p, []byte("#!/bin/sh\ncase \"$1\" in --version) echo 'runc version 1.1.5';; features) echo '"+featuresWithRRO+"';; esac\n"), 0o755)
	pr := &Prober{CacheDir: dir}
	if _, err := pr.Runtime(p); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rt, err := pr.Runtime(p); err != nil || !rt.Cached {
			b.Fatal("not warm", err)
		}
	}
}
