package probe

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScriptNotCached: a `#!` script that runs another runtime is probed
// on every call, so replacing the runtime it runs changes the answer at
// once; a cached answer would vouch for a binary it never looked at, and
// let policy Enabled pass without rro.
func TestScriptNotCached(t *testing.T) {
	inner := newFake(t, "runc version 1.1.5", featuresWithRRO)
	wrapper := filepath.Join(t.TempDir(), "runc-wrapper")
	must(t, os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+shq(inner.path)+" \"$@\"\n"), 0o755))
	dir := t.TempDir()
	t.Setenv(EnvCacheDir, dir)

	p := &Prober{}
	rt, err := p.Runtime(wrapper)
	if err != nil || !rt.RRO || rt.Cached || !strings.Contains(rt.NotCacheable, "not an ELF executable") {
		t.Fatalf("first probe of the script: %+v, %v; want RRO, uncached, with the reason", rt, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the answer for a script was cached or locked: %v", entries)
	}
	if ok, reason := Check(wrapper); !ok {
		t.Fatalf("Check with the rro runtime inside: %s", reason)
	}
	before := inner.runs(t)
	if rt, _ := (&Prober{}).Runtime(wrapper); rt.Cached || inner.runs(t)-before != 2 {
		t.Errorf("second probe of the script: cached=%v, %d runs; want a new probe", rt.Cached, inner.runs(t)-before)
	}

	// The inner runtime is replaced by one without rro.
	inner.write(t, "runc version 1.1.5", featuresWithoutRRO)
	if ok, reason := Check(wrapper); ok || !strings.Contains(reason, "does not support rro") {
		t.Errorf("after the inner runtime lost rro, Check = %v %q; want no", ok, reason)
	}
}

// TestELFCached: the same runtime as an ELF file is cached, and the entry
// records what the probe ran.
func TestELFCached(t *testing.T) {
	f := newFake(t, "runc version 1.1.5", featuresWithRRO)
	dir := t.TempDir()
	p := &Prober{CacheDir: dir}
	if rt, err := p.Runtime(f.path); err != nil || rt.NotCacheable != "" {
		t.Fatalf("%+v, %v", rt, err)
	}
	file, _ := p.CacheFile(f.path)
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), `"ran":"ELF executable"`) {
		t.Errorf("cache entry %s: %v; want it to record an ELF executable", b, err)
	}
}

// TestLockUnavailable: a lock that is held too long or cannot be made
// never fails a probe and never waits longer than lockWait.
func TestLockUnavailable(t *testing.T) {
	t.Run("held by a hung prober", func(t *testing.T) {
		f := newFake(t, "runc version 1.1.5", featuresWithRRO)
		dir := t.TempDir()
		p := &Prober{CacheDir: dir, Timeout: 1500 * time.Millisecond}
		file, _ := p.CacheFile(f.path)
		// Another process holds the lock and never finishes.
		holder := exec.Command("flock", lockFile(file), "sleep", "60")
		if err := holder.Start(); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("flock(1) (util-linux): %v, and CI=true", err)
			}
			t.Skipf("flock(1): %v", err)
		}
		t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
		deadline := time.Now().Add(5 * time.Second)
		for !lockHeld(lockFile(file)) {
			if time.Now().After(deadline) {
				t.Fatal("flock(1) did not take the lock")
			}
			time.Sleep(10 * time.Millisecond)
		}
		start := time.Now()
		rt, err := p.Runtime(f.path)
		took := time.Since(start)
		if err != nil || !rt.RRO || rt.Cached {
			t.Fatalf("%+v, %v; want a probe of its own", rt, err)
		}
		if want := lockWait(p.Timeout); took < want || took > want+3*time.Second {
			t.Errorf("took %s; want the bounded wait %s and then one probe", took, want)
		}
		if rt, _ := (&Prober{CacheDir: dir}).Runtime(f.path); !rt.Cached {
			t.Errorf("the answer of a probe without the lock was not cached")
		}
	})
	t.Run("not a file", func(t *testing.T) {
		f := newFake(t, "runc version 1.1.5", featuresWithRRO)
		dir := t.TempDir()
		p := &Prober{CacheDir: dir}
		file, _ := p.CacheFile(f.path)
		must(t, os.Mkdir(lockFile(file), 0o700))
		start := time.Now()
		if rt, err := p.Runtime(f.path); err != nil || !rt.RRO {
			t.Fatalf("%+v, %v", rt, err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("took %s with a directory as the lock: a lock that cannot be made is no lock", took)
		}
	})
}

// lockHeld reports whether someone holds the flock on path.
func lockHeld(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	return false
}

// TestDefaultDir: the cache's place for each kind of caller.
func TestDefaultDir(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	if got := DefaultDir(env(map[string]string{EnvCacheDir: "/x/y", "XDG_RUNTIME_DIR": "/run/user/1"})); got != "/x/y" {
		t.Errorf("with %s: %s", EnvCacheDir, got)
	}
	if os.Geteuid() == 0 {
		if got := DefaultDir(env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"})); got != DefaultCacheDir {
			t.Errorf("root: %s, want %s", got, DefaultCacheDir)
		}
	}
	// The non-root cases run as a real other user in TestRootlessCache.
}

// TestEnvCacheDir: RRO_RUNC_CACHE_DIR is where Check (the wrapper's and
// rroctl's question) keeps the answer, so tests and benchmarks never share
// /run/rro-runc with the node.
func TestEnvCacheDir(t *testing.T) {
	f := newFake(t, "runc version 1.1.5", featuresWithRRO)
	dir := filepath.Join(t.TempDir(), "cache")
	t.Setenv(EnvCacheDir, dir)
	if ok, reason := Check(f.path); !ok {
		t.Fatal(reason)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("cache directory %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 || !strings.HasSuffix(names[0], ".json") || !strings.HasSuffix(names[1], ".lock") {
		t.Errorf("cache directory holds %v, want one runtime-*.json and its lock", names)
	}
	if ok, _ := Check(f.path); !ok || f.runs(t) != 2 {
		t.Errorf("second Check ran the runtime: %d runs in all, want 2", f.runs(t))
	}
}
