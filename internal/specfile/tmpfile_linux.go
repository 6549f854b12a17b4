package specfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// errNoTmpfile: the filesystem (or kernel) cannot make an anonymous file,
// or it cannot be given a name; Replace falls back to a named one.
var errNoTmpfile = errors.New("O_TMPFILE not usable here")

// useTmpfile is false only in tests of the fallback.
var useTmpfile = true

// replaceAnonymous writes data to an O_TMPFILE file in dir, which has no
// name until it is complete, links it under a temporary name and renames
// that over path at once. A SIGKILL before the linkat leaves nothing (the
// kernel frees a nameless file with its last descriptor).
func replaceAnonymous(path, dir, prefix string, data []byte, o original) error {
	if !useTmpfile {
		return errNoTmpfile
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	switch {
	case err == unix.EOPNOTSUPP || err == unix.EISDIR || err == unix.EINVAL:
		// EISDIR and EINVAL: kernels before 3.11 read O_TMPFILE as
		// O_DIRECTORY plus an unknown bit.
		return errNoTmpfile
	case err != nil:
		return &os.PathError{Op: "open O_TMPFILE in", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir+"/(anonymous)")
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := finish(f, o); err != nil {
		return err
	}
	for range 100 {
		tmp := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		err := linkAnonymous(fd, tmp)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return err
		}
		return nil
	}
	return fmt.Errorf("no free temporary name in %s", dir)
}

// linkAnonymous gives the O_TMPFILE file fd the name tmp: through
// /proc/self/fd, which any caller may use, else with AT_EMPTY_PATH,
// which needs CAP_DAC_READ_SEARCH. Neither working (no /proc, no
// capability) sends Replace to its fallback.
func linkAnonymous(fd int, tmp string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW)
	if err == nil || err == unix.EEXIST {
		return err
	}
	if err2 := unix.Linkat(fd, "", unix.AT_FDCWD, tmp, unix.AT_EMPTY_PATH); err2 == nil || err2 == unix.EEXIST {
		return err2
	}
	if err == unix.ENOENT || err == unix.EPERM || err == unix.EACCES {
		return errNoTmpfile
	}
	return &os.LinkError{Op: "link", Old: "(anonymous file)", New: tmp, Err: err}
}

// xattr is one extended attribute.
type xattr struct {
	name  string
	value []byte
}

// readXattrs returns the extended attributes of path (not followed if it
// is a symlink) that the caller can read. A filesystem without extended
// attributes has none.
func readXattrs(path string) ([]xattr, error) {
	names, err := listXattrs(func(buf []byte) (int, error) { return unix.Llistxattr(path, buf) })
	if err != nil {
		if err == unix.ENOTSUP {
			return nil, nil
		}
		return nil, fmt.Errorf("listing extended attributes: %w", err)
	}
	var out []xattr
	for _, name := range names {
		v, err := getXattr(func(buf []byte) (int, error) { return unix.Lgetxattr(path, name, buf) })
		switch {
		case err == unix.ENODATA:
			continue // removed since the list
		case err == unix.EPERM || err == unix.EACCES:
			continue // not readable by this caller: not ours to copy
		case err != nil:
			return nil, fmt.Errorf("reading extended attribute %s: %w", name, err)
		}
		out = append(out, xattr{name, v})
	}
	return out, nil
}

// writeXattrs sets attrs on f, and removes an access ACL f inherited from
// a default ACL of the directory that the original did not have.
func writeXattrs(f *os.File, attrs []xattr) error {
	fd := int(f.Fd())
	has := map[string]bool{}
	for _, a := range attrs {
		has[a.name] = true
		if err := unix.Fsetxattr(fd, a.name, a.value, 0); err != nil {
			return fmt.Errorf("keeping extended attribute %s: %w", a.name, err)
		}
	}
	const acl = "system.posix_acl_access"
	if !has[acl] {
		if err := unix.Fremovexattr(fd, acl); err != nil && err != unix.ENODATA && err != unix.ENOTSUP {
			return fmt.Errorf("removing the inherited %s: %w", acl, err)
		}
	}
	return nil
}

// listXattrs calls list with a growing buffer until the names fit.
func listXattrs(list func([]byte) (int, error)) ([]string, error) {
	b, err := getXattr(list)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range strings.Split(string(b), "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

// getXattr calls get with a buffer of the size it asks for, retrying when
// the value grew in between.
func getXattr(get func([]byte) (int, error)) ([]byte, error) {
	for range 10 {
		n, err := get(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return []byte{}, nil
		}
		buf := make([]byte, n)
		n, err = get(buf)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.ERANGE
}
