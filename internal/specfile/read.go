// Package specfile reads an OCI bundle's config.json and replaces it
// atomically: the two ends of the one file rro-runc and rroctl edit, kept
// together so that the wrapper and the operator's tool refuse the same
// files, read the same bytes and write them back the same way.
//
// Guarantees of Read:
//   - A symlink as the last path component is refused, not followed: the
//     wrapper rewrites the file it reads, and a symlink would let a bundle
//     author point that write anywhere.
//   - A FIFO, a device or a directory is refused without blocking on it.
//   - At most MaxSize bytes are read, whatever the file claims or grows to.
//   - Every error wraps ErrBadConfigFile and names the path.
package specfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxSize bounds what is read: a config.json of 10,000 mounts is about
// 2 MiB, so anything near this is not a real bundle.
const MaxSize = 64 << 20

// ErrBadConfigFile: the config file cannot be used.
var ErrBadConfigFile = errors.New("cannot read config file")

// Read reads the config file at path and returns its contents and
// permission bits (for a rewrite that keeps them).
func Read(path string) ([]byte, os.FileMode, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, 0, fmt.Errorf("%w %s: it is a symlink; rro-runc rewrites only a regular file inside the bundle", ErrBadConfigFile, path)
		}
		return nil, 0, fmt.Errorf("%w: %w", ErrBadConfigFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("%w %s: %w", ErrBadConfigFile, path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%w %s: not a regular file but %s", ErrBadConfigFile, path, describeType(fi.Mode()))
	}
	if fi.Size() > MaxSize {
		return nil, 0, fmt.Errorf("%w %s: %d bytes is over the %d byte limit", ErrBadConfigFile, path, fi.Size(), MaxSize)
	}
	data, err := ReadFrom(f, path)
	if err != nil {
		return nil, 0, err
	}
	return data, fi.Mode().Perm(), nil
}

// ReadFrom reads a config from r (a pipe, stdin) with the same size
// limit; name is what errors call it.
func ReadFrom(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadConfigFile, name, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w %s: over the %d byte limit", ErrBadConfigFile, name, MaxSize)
	}
	return data, nil
}

// describeType names a non-regular file's type in words: FileMode's own
// string ("p---------") means nothing to the operator reading the error.
func describeType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSymlink != 0:
		return "a symlink"
	}
	return "an irregular file (" + m.Type().String() + ")"
}
