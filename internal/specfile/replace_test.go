package specfile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestReplace(t *testing.T) {
	tests := []struct {
		name     string
		existing os.FileMode // 0: no file before
		perm     os.FileMode
		wantMode os.FileMode
	}{
		{name: "new file gets fallbackPerm", perm: 0o640, wantMode: 0o640},
		{name: "new file fallbackPerm keeps only mode bits", perm: os.ModeDir | 0o600, wantMode: 0o600},
		{name: "existing file keeps its mode", existing: 0o600, perm: 0o644, wantMode: 0o600},
		{name: "existing executable mode kept", existing: 0o755, perm: 0o644, wantMode: 0o755},
		{name: "existing read-only file replaced", existing: 0o444, perm: 0o644, wantMode: 0o444},
		{name: "setgid bit kept", existing: os.ModeSetgid | 0o750, perm: 0o644, wantMode: os.ModeSetgid | 0o750},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "config.json")
			if tc.existing != 0 {
				if err := os.WriteFile(p, []byte("old contents that are longer than the new"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := Replace(p, []byte("new"), tc.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != "new" {
				t.Fatalf("contents %q, %v; want %q (no leftover of the longer old file)", got, err, "new")
			}
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.Mode().IsRegular() || fi.Mode()&keptModeBits != tc.wantMode {
				t.Errorf("mode %v, want regular file with %v", fi.Mode(), tc.wantMode)
			}
			assertNoTemp(t, dir)
		})
	}
}

// TestReplaceRefuses: targets that are not regular files are left alone,
// and whatever a symlink points at is never written.
func TestReplaceRefuses(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir, p string)
		wantErr error
	}{
		{"symlink to a file", func(t *testing.T, dir, p string) {
			mustWrite(t, filepath.Join(dir, "elsewhere.json"), "original")
			must(t, os.Symlink(filepath.Join(dir, "elsewhere.json"), p))
		}, ErrSymlink},
		{"relative symlink", func(t *testing.T, dir, p string) {
			mustWrite(t, filepath.Join(dir, "elsewhere.json"), "original")
			must(t, os.Symlink("elsewhere.json", p))
		}, ErrSymlink},
		{"dangling symlink", func(t *testing.T, dir, p string) {
			must(t, os.Symlink(filepath.Join(dir, "elsewhere.json"), p))
		}, ErrSymlink},
		{"symlink to a directory", func(t *testing.T, dir, p string) {
			must(t, os.Symlink(dir, p))
		}, ErrSymlink},
		{"directory", func(t *testing.T, dir, p string) {
			must(t, os.Mkdir(p, 0o755))
		}, ErrNotRegular},
		{"fifo", func(t *testing.T, dir, p string) {
			must(t, syscall.Mkfifo(p, 0o644))
		}, ErrNotRegular},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "config.json")
			tc.setup(t, dir, p)
			before, _ := os.Lstat(p)
			err := Replace(p, []byte("new"), 0o644)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Replace = %v, want %v naming %s", err, tc.wantErr, p)
			}
			after, _ := os.Lstat(p)
			if !os.SameFile(before, after) || before.Mode() != after.Mode() {
				t.Errorf("target replaced: %v became %v", before.Mode(), after.Mode())
			}
			if b, err := os.ReadFile(filepath.Join(dir, "elsewhere.json")); err == nil && string(b) != "original" {
				t.Errorf("symlink target changed to %q", b)
			}
			assertNoTemp(t, dir)
		})
	}
}

func TestReplaceMissingDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gone", "config.json")
	err := Replace(p, []byte("x"), 0o644)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Fatalf("Replace = %v, want ErrNotExist naming %s", err, p)
	}
}

// TestReplaceStrayTemps: the leftovers of a killed call neither block
// nor confuse the next one, which removes those whose writer is gone and
// keeps those of a live writer (it may be between link and rename) and
// names it did not make.
func TestReplaceStrayTemps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	dead := exec.Command("true")
	must(t, dead.Run())
	strays := map[string]bool{ // name: kept
		TempPrefix + "config.json-" + strconv.Itoa(dead.Process.Pid) + "-abc": false,
		TempPrefix + "config.json-1-abc":                                      true, // init is alive
		TempPrefix + "config.json-notapid":                                    true,
		TempPrefix + "other.json-" + strconv.Itoa(dead.Process.Pid) + "-abc":  true, // another target's
	}
	for name := range strays {
		mustWrite(t, filepath.Join(dir, name), "half a file")
	}
	mustWrite(t, p, "old")
	if err := Replace(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("contents %q, want new", b)
	}
	for name, kept := range strays {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if kept && string(b) != "half a file" {
			t.Errorf("%s: touched: %q, %v", name, b, err)
		}
		if !kept && err == nil {
			t.Errorf("%s: the temporary file of a dead writer was not removed", name)
		}
	}
}

// TestReplaceConcurrent: readers racing many writers only ever see one
// writer's whole contents, and no temporary file survives.
func TestReplaceConcurrent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	const size = 256 << 10
	contents := make([][]byte, 8)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, size)
	}
	mustWrite(t, p, string(contents[0]))

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var bad []string
	var mu sync.Mutex
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(p)
				if err != nil || len(b) != size || bytes.Count(b, b[:1]) != size {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("read %d bytes, err %v", len(b), err))
					mu.Unlock()
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for i := range contents {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range 5 {
				if err := Replace(p, contents[i], 0o644); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	if len(bad) > 0 {
		t.Errorf("%d torn reads, first: %s", len(bad), bad[0])
	}
	assertNoTemp(t, dir)
}

// TestReplaceSIGKILL kills a process in the middle of replacing a file
// over and over, with O_TMPFILE and with the named fallback: the file is
// always one whole version, a kill leaves at most one temporary file (the
// fallback's, or one caught between link and rename), the next call
// removes it, and the next call works regardless.
func TestReplaceSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, mode := range []string{"tmpfile", "named"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "config.json")
			const size = 1 << 20
			mustWrite(t, p, strings.Repeat("a", size))
			const rounds = 20
			left := 0
			for round := range rounds {
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
				cmd.Env = append(os.Environ(), "ATOMICFILE_HELPER="+p, "ATOMICFILE_MODE="+mode)
				out, err := cmd.StdoutPipe()
				must(t, err)
				must(t, cmd.Start())
				ready := make([]byte, 1)
				if _, err := out.Read(ready); err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("helper did not start writing: %v", err)
				}
				time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
				must(t, cmd.Process.Kill())
				cmd.Wait()

				b, err := os.ReadFile(p)
				if err != nil || len(b) != size || bytes.Count(b, b[:1]) != size {
					t.Fatalf("round %d: after SIGKILL the file has %d bytes (err %v), want %d of one letter", round, len(b), err, size)
				}
				// The helper's first Replace removed the previous one's.
				n := countTemp(t, dir)
				if n > 1 {
					t.Fatalf("round %d: %d temporary files; each call removes a dead writer's", round, n)
				}
				left += n
			}
			t.Logf("%d kills: %d found a temporary file of the killed writer", rounds, left)
			if err := Replace(p, []byte("final"), 0o644); err != nil {
				t.Fatalf("Replace after the kills: %v", err)
			}
			if b, _ := os.ReadFile(p); string(b) != "final" {
				t.Errorf("contents %q, want final", b)
			}
			assertNoTemp(t, dir)
		})
	}
}

// TestHelperWriter is the process TestReplaceSIGKILL kills.
func TestHelperWriter(t *testing.T) {
	p := os.Getenv("ATOMICFILE_HELPER")
	if p == "" {
		t.Skip("helper process for TestReplaceSIGKILL")
	}
	useTmpfile = os.Getenv("ATOMICFILE_MODE") != "named"
	versions := [][]byte{bytes.Repeat([]byte("b"), 1<<20), bytes.Repeat([]byte("c"), 1<<20)}
	for i := 0; ; i++ {
		if err := Replace(p, versions[i%2], 0o644); err != nil {
			os.Exit(3)
		}
		if i == 0 {
			os.Stdout.Write([]byte("R"))
		}
	}
}

func countTemp(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			n++
		}
	}
	return n
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	if n := countTemp(t, dir); n != 0 {
		t.Errorf("%d temporary files left behind in %s", n, dir)
	}
}

func mustWrite(t *testing.T, p, s string) {
	t.Helper()
	must(t, os.WriteFile(p, []byte(s), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
