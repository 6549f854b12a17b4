package specfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// posixACL encodes an access ACL as the kernel's system.posix_acl_access
// value: owner rw, user 1234 r, owning group r, mask r, others nothing.
func posixACL() []byte {
	const undefined = 0xffffffff
	entries := []struct {
		tag, perm uint16
		id        uint32
	}{{0x01, 6, undefined}, {0x02, 4, 1234}, {0x04, 4, undefined}, {0x10, 4, undefined}, {0x20, 0, undefined}}
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

// attributeDirs are the filesystems the attribute tests run on: the
// test's temporary directory (ext4 on this project's machines) and a
// fresh tmpfs (root only).
func attributeDirs(t *testing.T) map[string]string {
	dirs := map[string]string{"tempdir": t.TempDir()}
	if os.Geteuid() == 0 {
		dirs["tmpfs"] = mountTmpfs(t, "")
	} else if os.Getenv("CI") == "true" {
		t.Fatal("the tmpfs case needs root, and CI=true")
	}
	return dirs
}

// setOrSkip sets an attribute the test needs; a filesystem that refuses
// the whole namespace skips the case, except ext4 and tmpfs under CI=true,
// which support both user xattrs and POSIX ACLs on every kernel this
// project runs on.
func setOrSkip(t *testing.T, p, name string, value []byte) {
	t.Helper()
	err := unix.Setxattr(p, name, value, 0)
	if err == nil {
		return
	}
	var st unix.Statfs_t
	_ = unix.Statfs(p, &st)
	known := st.Type == unix.EXT4_SUPER_MAGIC || st.Type == unix.TMPFS_MAGIC
	if (err == unix.ENOTSUP || err == unix.EOPNOTSUPP) && !(known && os.Getenv("CI") == "true") {
		t.Skipf("the filesystem of %s (magic %#x) refuses %s: %v", p, st.Type, name, err)
	}
	t.Fatalf("setting %s on %s: %v", name, p, err)
}

func getXattrT(t *testing.T, p, name string) []byte {
	t.Helper()
	v, err := getXattr(func(b []byte) (int, error) { return unix.Lgetxattr(p, name, b) })
	if err != nil {
		t.Fatalf("%s of %s: %v", name, p, err)
	}
	return v
}

// TestReplaceKeepsAttributes: a user xattr and a POSIX ACL on config.json
// survive the replacement, with O_TMPFILE and with the named fallback.
func TestReplaceKeepsAttributes(t *testing.T) {
	forAttributeCases(t, 0o640, func(t *testing.T, dir, p string) {
		setOrSkip(t, p, "user.rro-test", []byte("kept"))
		setOrSkip(t, p, "system.posix_acl_access", posixACL())
		acl := getXattrT(t, p, "system.posix_acl_access")
		if err := Replace(p, []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != "new" {
			t.Fatalf("contents %q", b)
		}
		if v := getXattrT(t, p, "user.rro-test"); string(v) != "kept" {
			t.Errorf("user.rro-test = %q, want kept", v)
		}
		if v := getXattrT(t, p, "system.posix_acl_access"); !bytes.Equal(v, acl) {
			t.Errorf("ACL %x, want %x", v, acl)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
			t.Errorf("mode %v, want 0640", fi.Mode())
		}
		assertNoTemp(t, dir)
	})
}

// forAttributeCases runs test on each filesystem of attributeDirs, with
// O_TMPFILE and with the named fallback, on a fresh directory holding p,
// a config.json with mode perm.
func forAttributeCases(t *testing.T, perm os.FileMode, test func(t *testing.T, dir, p string)) {
	for fsName, base := range attributeDirs(t) {
		for _, tmpfile := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/tmpfile=%v", fsName, tmpfile), func(t *testing.T) {
				defer func(old bool) { useTmpfile = old }(useTmpfile)
				useTmpfile = tmpfile
				dir, err := os.MkdirTemp(base, "attrs-")
				must(t, err)
				p := filepath.Join(dir, "config.json")
				mustWrite(t, p, "old")
				must(t, os.Chmod(p, perm))
				test(t, dir, p)
			})
		}
	}
}

// TestReplaceNoInheritedACL: a default ACL on the directory, which the
// new file inherits, does not give it an access ACL the original lacked.
func TestReplaceNoInheritedACL(t *testing.T) {
	forAttributeCases(t, 0o600, func(t *testing.T, dir, p string) {
		setOrSkip(t, dir, "system.posix_acl_default", posixACL())
		if err := Replace(p, []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if v, err := getXattr(func(b []byte) (int, error) { return unix.Lgetxattr(p, "system.posix_acl_access", b) }); err != unix.ENODATA {
			t.Errorf("the new file has an access ACL %x (%v); the original had none", v, err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode())
		}
	})
}

// TestReplaceFallback: without O_TMPFILE the named temporary file gives
// the same result.
func TestReplaceFallback(t *testing.T) {
	defer func(old bool) { useTmpfile = old }(useTmpfile)
	useTmpfile = false
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	mustWrite(t, p, "old contents")
	must(t, os.Chmod(p, os.ModeSetgid|0o750))
	if err := Replace(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if b, _ := os.ReadFile(p); string(b) != "new" || fi.Mode()&keptModeBits != os.ModeSetgid|0o750 {
		t.Errorf("contents %q mode %v", b, fi.Mode())
	}
	assertNoTemp(t, dir)
}

// BenchmarkReplace: Replace of a 16 KiB file (a config.json of about 20
// mounts) on /run and /dev/shm, by O_TMPFILE and by the named fallback.
func BenchmarkReplace(b *testing.B) {
	data := bytes.Repeat([]byte("x"), 16<<10)
	for _, parent := range []string{"/run", "/dev/shm"} {
		for _, tmpfile := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/tmpfile=%v", parent, tmpfile), func(b *testing.B) {
				defer func(old bool) { useTmpfile = old }(useTmpfile)
				useTmpfile = tmpfile
				dir, err := os.MkdirTemp(parent, "rro-bench-")
				if err != nil {
					b.Skip(err)
				}
				b.Cleanup(func() { os.RemoveAll(dir) })
				p := filepath.Join(dir, "config.json")
				if err := os.WriteFile(p, data, 0o644); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if err := Replace(p, data, 0o644); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// replaceWithFsync is Replace as it was before issue 12 (named temporary
// file, fsync of the file, rename, fsync of the directory), kept only to
// measure what dropping the fsyncs saves, side by side.
func replaceWithFsync(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// TestMeasureReplace (RRO_MEASURE=1) times Replace against the fsyncing
// version it replaced, interleaved round by round on /run and /dev/shm so
// that both see the same machine load, and logs the medians.
func TestMeasureReplace(t *testing.T) {
	if os.Getenv("RRO_MEASURE") != "1" {
		t.Skip("a measurement: RRO_MEASURE=1")
	}
	data := bytes.Repeat([]byte("x"), 16<<10)
	type variant struct {
		name string
		f    func(string) error
	}
	variants := []variant{
		{"with fsyncs (before)", func(p string) error { return replaceWithFsync(p, data) }},
		{"O_TMPFILE, no fsync (now)", func(p string) error { return Replace(p, data, 0o644) }},
		{"named fallback, no fsync", func(p string) error {
			useTmpfile = false
			defer func() { useTmpfile = true }()
			return Replace(p, data, 0o644)
		}},
	}
	for _, parent := range []string{"/run", "/dev/shm"} {
		dir, err := os.MkdirTemp(parent, "rro-measure-")
		must(t, err)
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "config.json")
		must(t, os.WriteFile(p, data, 0o644))
		var st unix.Statfs_t
		must(t, unix.Statfs(dir, &st))
		times := make([][]time.Duration, len(variants))
		for range 40 {
			for i, v := range variants {
				start := time.Now()
				for range 10 {
					must(t, v.f(p))
				}
				times[i] = append(times[i], time.Since(start)/10)
			}
		}
		for i, v := range variants {
			slices.Sort(times[i])
			ts := times[i]
			t.Logf("%s (fs magic %#x): %s: median %s, p10 %s, p90 %s", parent, st.Type, v.name, ts[len(ts)/2], ts[len(ts)/10], ts[len(ts)*9/10])
		}
	}
}

// TestReplaceDurable: the durable variant gives the same file, with the
// same attributes, on both paths.
func TestReplaceDurable(t *testing.T) {
	forAttributeCases(t, 0o640, func(t *testing.T, dir, p string) {
		setOrSkip(t, p, "user.rro-test", []byte("kept"))
		if err := ReplaceDurable(p, []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		if b, _ := os.ReadFile(p); string(b) != "new" || fi.Mode().Perm() != 0o640 {
			t.Errorf("contents %q mode %v", b, fi.Mode())
		}
		if v := getXattrT(t, p, "user.rro-test"); string(v) != "kept" {
			t.Errorf("user.rro-test = %q", v)
		}
		assertNoTemp(t, dir)
	})
}
