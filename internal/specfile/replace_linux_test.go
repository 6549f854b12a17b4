package specfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// requireRoot skips a test that needs root, except under CI=true where a
// skipped test would hide a missing guarantee.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("needs root (%s), and CI=true", why)
	}
	t.Skipf("needs root (%s)", why)
}

// mountTmpfs mounts a fresh tmpfs on a temporary directory: a filesystem
// the test can make read-only or full, which mode bits cannot do to root.
func mountTmpfs(t *testing.T, options string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, options); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestReplaceFailures: when the filesystem refuses, the original stays
// as it was and no temporary file is left.
func TestReplaceFailures(t *testing.T) {
	requireRoot(t, "mounts tmpfs")
	big := make([]byte, 1<<20)
	tests := []struct {
		name    string
		options string
		after   func(t *testing.T, dir string) // after the original is written
		data    []byte
		wantErr error
	}{
		{"read-only filesystem", "", func(t *testing.T, dir string) {
			must(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""))
		}, []byte("new"), syscall.EROFS},
		{"read-only bind mount", "", func(t *testing.T, dir string) {
			must(t, syscall.Mount(dir, dir, "", syscall.MS_BIND, ""))
			t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
			must(t, syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""))
		}, []byte("new"), syscall.EROFS},
		{"filesystem full", "size=64k", nil, big, syscall.ENOSPC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := mountTmpfs(t, tc.options)
			p := filepath.Join(dir, "config.json")
			must(t, os.WriteFile(p, []byte("original"), 0o640))
			if tc.after != nil {
				tc.after(t, dir)
			}
			err := Replace(p, tc.data, 0o644)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Replace = %v, want %v naming %s", err, tc.wantErr, p)
			}
			if b, _ := os.ReadFile(p); string(b) != "original" {
				t.Errorf("contents changed to %q", b)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode changed to %v", fi.Mode())
			}
			assertNoTemp(t, dir)
		})
	}
}

// TestReplaceKeepsOwner: root rewriting a bundle owned by someone else
// (rootless engines, user namespaces) must not hand it over to root.
func TestReplaceKeepsOwner(t *testing.T) {
	requireRoot(t, "chown")
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	mustWrite(t, p, "old")
	must(t, os.Chown(p, 1234, 5678))
	must(t, os.Chmod(p, os.ModeSetgid|0o750))
	if err := Replace(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	must(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("owner %d:%d, want 1234:5678", st.Uid, st.Gid)
	}
	if fi.Mode()&keptModeBits != os.ModeSetgid|0o750 {
		t.Errorf("mode %v, want setgid 0750 (chown must not clear it)", fi.Mode())
	}
}
