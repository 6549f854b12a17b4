// Package atomicfile replaces a file's contents so that readers and
// crashes only ever see the old contents or the new, whole.
//
// Guarantees of WriteFile:
//   - The data goes to a new temporary file in the same directory (so the
//     rename cannot cross filesystems), is fsynced, gets the original
//     file's mode (and owner, when the caller may set it), and is renamed
//     over the target; then the directory is fsynced so the rename itself
//     survives a power loss.
//   - On any error the target is untouched and the temporary file removed.
//     Only SIGKILL or a power loss between create and rename can leave a
//     temporary file behind; its name starts with TempPrefix, and nothing
//     ever reads it.
//   - A target that is a symlink is refused: the rename would replace the
//     link, and following it would write outside the directory asked for.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// TempPrefix starts the name of every temporary file WriteFile creates.
const TempPrefix = ".rro-runc-tmp-"

// ErrSymlink is returned for a target that is a symbolic link.
var ErrSymlink = errors.New("refusing to replace a symlink")

// WriteFile atomically replaces path with data. A new file gets perm.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	mode, uid, gid := perm, -1, -1
	switch fi, statErr := os.Lstat(path); {
	case statErr == nil && fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: %s", ErrSymlink, path)
	case statErr == nil:
		mode = fi.Mode().Perm()
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
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		// Best effort: only a privileged caller can give the file away,
		// and an unprivileged one could not have written the original's
		// directory entry for another owner anyway.
		_ = tmp.Chown(uid, gid)
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
