// Replace changes a file's contents so that readers and crashes only ever
// see the old contents or the new, whole. The probe cache and rroctl's
// engine-config edits use it too.
//
// Guarantees of Replace:
//   - The data goes to a new temporary file in the same directory (so the
//     rename cannot cross filesystems), created with O_EXCL and mode 0600
//     so no other process can have it open, is fsynced, gets the original
//     file's owner (when the caller may set it) and mode, and is renamed
//     over the target; then the directory is fsynced so the rename itself
//     survives a power loss.
//   - A crash at any moment leaves either the old or the new complete file
//     under the target's name, never a mix or a truncated file.
//   - On any error the target is untouched and the temporary file removed.
//     Only SIGKILL or a power loss between create and rename can leave a
//     temporary file behind: at most one per interrupted call, its name
//     starts with TempPrefix, nothing ever reads it, and later calls do not
//     need it gone.
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

// Replace atomically replaces path with data. The new file gets the
// mode and, when the caller may set them, the owner and group of the file
// it replaces; a file that did not exist gets fallbackPerm and the
// caller's ownership.
func Replace(path string, data []byte, fallbackPerm os.FileMode) (err error) {
	mode, uid, gid := fallbackPerm&keptModeBits, -1, -1
	switch fi, statErr := os.Lstat(path); {
	case statErr == nil && fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("write %s: %w", path, ErrSymlink)
	case statErr == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("write %s: %w (%s)", path, ErrNotRegular, fi.Mode().Type())
	case statErr == nil:
		mode = fi.Mode() & keptModeBits
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	case !errors.Is(statErr, fs.ErrNotExist):
		return fmt.Errorf("write %s: %w", path, statErr)
	}

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if uid >= 0 && (os.Geteuid() == 0 || uid != os.Geteuid() || gid != os.Getegid()) {
		// Best effort, and before the chmod because chown clears the
		// set-id bits. The temporary file's group may come from a setgid
		// directory, so root always sets it. An unprivileged caller that
		// cannot give the file away keeps it: it owns the new contents.
		_ = tmp.Chown(uid, gid)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The new contents are in place; a failed directory fsync only weakens
	// durability across a power loss, which the caller can do nothing about.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
