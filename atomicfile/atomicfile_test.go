package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name     string
		existing *os.FileMode // nil: no file before
		perm     os.FileMode
		wantMode os.FileMode
	}{
		{name: "new file gets perm", perm: 0o640, wantMode: 0o640},
		{name: "existing file keeps its mode", existing: ptr(os.FileMode(0o600)), perm: 0o644, wantMode: 0o600},
		{name: "existing executable mode kept", existing: ptr(os.FileMode(0o755)), perm: 0o644, wantMode: 0o755},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "config.json")
			if tc.existing != nil {
				if err := os.WriteFile(p, []byte("old contents that are longer than the new"), *tc.existing); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, *tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(p, []byte("new"), tc.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != "new" {
				t.Fatalf("contents %q, %v; want %q (no leftover of the longer old file)", got, err, "new")
			}
			fi, _ := os.Stat(p)
			if fi.Mode().Perm() != tc.wantMode {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.wantMode)
			}
			assertNoTemp(t, dir)
		})
	}
}

func TestWriteFileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere.json")
	if err := os.WriteFile(target, []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(link, []byte("new"), 0o644)
	if !errors.Is(err, ErrSymlink) || !strings.Contains(err.Error(), link) {
		t.Fatalf("WriteFile through a symlink = %v, want ErrSymlink naming %s", err, link)
	}
	if b, _ := os.ReadFile(target); string(b) != "original" {
		t.Errorf("symlink target changed to %q", b)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink replaced")
	}
	assertNoTemp(t, dir)
}

// TestWriteFileReadOnlyDirectory needs a directory root cannot write to:
// a read-only tmpfs.
func TestWriteFileReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to mount a read-only tmpfs, and CI=true")
		}
		t.Skip("needs root to mount a read-only tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(p, []byte("new"), 0o644)
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), p) {
		t.Fatalf("WriteFile in a read-only directory = %v, want EROFS naming %s", err, p)
	}
	if b, _ := os.ReadFile(p); string(b) != "original" {
		t.Errorf("contents changed to %q", b)
	}
}

func TestWriteFileMissingDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gone", "config.json")
	if err := WriteFile(p, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("WriteFile = %v, want an error naming %s", err, p)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func ptr[T any](v T) *T { return &v }
