//go:build !linux

package specfile

import (
	"errors"
	"os"
)

// Elsewhere there is no O_TMPFILE: Replace always writes a named
// temporary file, and extended attributes are not carried over.

var errNoTmpfile = errors.New("O_TMPFILE is Linux only")

var useTmpfile = false

func replaceAnonymous(path, dir, prefix string, data []byte, o original) error { return errNoTmpfile }

type xattr struct {
	name  string
	value []byte
}

func readXattrs(string) ([]xattr, error) { return nil, nil }

func writeXattrs(*os.File, []xattr) error { return nil }
