// Replace changes a file's contents so that readers and a killed writer
// only ever see the old contents or the new, whole. The probe cache uses
// it too; rroctl's `rewrite --in-place` and engine-config edits, whose
// files outlive a boot, use ReplaceDurable.
//
// Guarantees of Replace:
//   - Atomic: the target's name always refers to a complete file, the old
//     one or the new one, for every reader and after a SIGKILL at any
//     moment. The new contents are built in an anonymous file in the same
//     directory (O_TMPFILE: no name, so nothing to leave behind), given the
//     original's owner (when the caller may set it), extended attributes
//     and mode, then linked under a temporary name and renamed over the
//     target in the next system call.
//   - No litter from a kill during the write: until the file is complete
//     it has no name. Only a SIGKILL landing in the one linkat(2) just
//     before the rename can leave a complete temporary file behind; its
//     name starts with TempPrefix and carries the writer's PID, nothing
//     ever reads it, and the next Replace of the same file removes it once
//     that PID is gone. On a filesystem without O_TMPFILE (FUSE, old
//     kernels) the temporary file is named from the start, so a kill during
//     the write can leave one; it is removed the same way.
//   - Replace is not durable, on purpose: nothing is fsynced. After a power loss the
//     target may hold the old contents, the new, or (as after any unsynced
//     write) be empty or missing. Durability is none beyond what the
//     producer's own unsynced write gave: container engines write
//     config.json without fsync into bundles on /run, and after a power
//     loss the container is gone and the engine makes a new bundle. Two
//     fsyncs cost 0.7 to 4 ms per create on an ext4 /run (README,
//     Performance; TestMeasureReplace) and protected nothing the engine kept.
//   - ReplaceDurable is Replace for files that outlive a boot (an engine's
//     config in /etc, a bundle an operator rewrites on disk): the new file
//     is fsynced before it is linked and the directory after the rename,
//     so after a power loss the target holds the old contents or the new,
//     whole.
//   - Attributes kept: mode (permission, setuid, setgid, sticky bits),
//     owner and group when the caller may set them, and every extended
//     attribute the caller can read (security.selinux, POSIX ACLs as
//     system.posix_acl_access, user.*, trusted.* for root). An attribute
//     that cannot be set on the new file fails the call, naming it: a
//     label or ACL silently dropped could open the file to others.
//   - On any error the target is untouched and no temporary file is left.
//   - Only a regular file is replaced. A target that is a symlink is
//     refused rather than followed, so a path inside a directory can never
//     be used to write somewhere else; since rename(2) does not follow
//     symlinks either, a symlink swapped in after the check is replaced,
//     not written through. Symlinks in the directory part of the path are
//     followed as usual: the caller chose that directory.
//   - Replacement is by rename, so other hard links to the old file keep
//     the old contents.

package specfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// TempPrefix starts the name of every temporary file Replace creates.
const TempPrefix = ".rro-runc-tmp-"

var (
	// ErrSymlink is returned for a target that is a symbolic link.
	ErrSymlink = errors.New("refusing to replace a symlink")
	// ErrNotRegular is returned for a target that exists but is neither a
	// regular file nor a symlink: a directory, FIFO, socket or device.
	ErrNotRegular = errors.New("refusing to replace a file that is not a regular file")
)

// keptModeBits are the mode bits carried over from the file being replaced.
const keptModeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// original is what the new file inherits from the one it replaces.
type original struct {
	mode     os.FileMode
	uid, gid int // -1: keep the caller's
	xattrs   []xattr
	durable  bool // fsync the new file before it gets its name
}

// Replace atomically replaces path with data. The new file gets the
// mode, extended attributes and, when the caller may set them, the owner
// and group of the file it replaces; a file that did not exist gets
// fallbackPerm and the caller's ownership.
func Replace(path string, data []byte, fallbackPerm os.FileMode) error {
	return replace(path, data, fallbackPerm, false)
}

// ReplaceDurable is Replace with the new file and the directory fsynced:
// what it leaves survives a power loss as well as a kill.
func ReplaceDurable(path string, data []byte, fallbackPerm os.FileMode) error {
	return replace(path, data, fallbackPerm, true)
}

func replace(path string, data []byte, fallbackPerm os.FileMode, durable bool) error {
	orig, err := inspect(path, fallbackPerm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	prefix := TempPrefix + base + "-" + strconv.Itoa(os.Getpid()) + "-"
	orig.durable = durable
	if err := replaceAnonymous(path, dir, prefix, data, orig); err != nil {
		if !errors.Is(err, errNoTmpfile) {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := replaceNamed(path, dir, prefix, data, orig); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if durable {
		// The new contents are in place; a failed directory fsync only
		// weakens durability, which the caller can do nothing about.
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	removeStale(dir, TempPrefix+base+"-")
	return nil
}

// inspect checks the target and reads what the new file must keep.
func inspect(path string, fallbackPerm os.FileMode) (original, error) {
	o := original{mode: fallbackPerm & keptModeBits, uid: -1, gid: -1}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return o, nil
	case err != nil:
		return o, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return o, ErrSymlink
	case !fi.Mode().IsRegular():
		return o, fmt.Errorf("%w (%s)", ErrNotRegular, fi.Mode().Type())
	}
	o.mode = fi.Mode() & keptModeBits
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		o.uid, o.gid = int(st.Uid), int(st.Gid)
	}
	if o.xattrs, err = readXattrs(path); err != nil {
		return o, err
	}
	return o, nil
}

// finish gives the new file f the original's owner, attributes and mode
// (and fsyncs it when the call is durable), in that order: chown clears set-id bits and security.capability, and
// setting an ACL rewrites the group bits that the final chmod restores.
func finish(f *os.File, o original) error {
	if o.uid >= 0 && (os.Geteuid() == 0 || o.uid != os.Geteuid() || o.gid != os.Getegid()) {
		// Best effort. The new file's group may come from a setgid
		// directory, so root always sets it. An unprivileged caller that
		// cannot give the file away keeps it: it owns the new contents.
		_ = f.Chown(o.uid, o.gid)
	}
	if err := writeXattrs(f, o.xattrs); err != nil {
		return err
	}
	if err := f.Chmod(o.mode); err != nil {
		return err
	}
	if o.durable {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync: %w", err)
		}
	}
	return nil
}

// replaceNamed is the fallback for filesystems without O_TMPFILE: the
// temporary file has a name while it is written.
func replaceNamed(path, dir, prefix string, data []byte, o original) (err error) {
	tmp, err := os.CreateTemp(dir, prefix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = finish(tmp, o); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// removeStale removes temporary files of earlier calls for the same
// target whose writer is gone (killed between link and rename, or during
// a named write). A writer that is alive may be between its own link and
// rename, so its file stays. The directory is small (a bundle, the probe
// cache); a failure here costs nothing but the litter.
func removeStale(dir, prefix string) {
	names := dirNames(dir)
	self := os.Getpid()
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == self || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		_ = os.Remove(filepath.Join(dir, name))
	}
}
