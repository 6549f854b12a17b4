//go:build !linux

package probe

import (
	"os"
	"time"
)

// Elsewhere the key is the portable part of a stat: no boot id, device,
// inode or ctime. The kernel check says no there anyway.

func identify(abs string) (cacheKey, error) {
	fi, err := os.Stat(abs)
	if err != nil {
		return cacheKey{}, err
	}
	return cacheKey{Path: abs, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}, nil
}

// inUserNamespace: Linux only.
func inUserNamespace() bool { return false }

// BootID is "" where there is no Linux boot id.
func BootID() string { return "" }

func readCacheFile(file string) ([]byte, cacheState) {
	fi, err := os.Lstat(file)
	switch {
	case err != nil:
		return nil, cacheMissing
	case !fi.Mode().IsRegular() || fi.Mode()&0o022 != 0 || fi.Size() > maxCacheFile:
		return nil, cacheUntrusted
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, cacheMissing
	}
	return b, cacheFresh
}

func isELF(abs string, key cacheKey) bool {
	f, err := os.Open(abs)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	n, _ := f.Read(magic[:])
	return n == 4 && string(magic[:]) == "\x7fELF"
}

func privateDir(dir string) bool {
	if os.MkdirAll(dir, 0o700) != nil {
		return false
	}
	fi, err := os.Lstat(dir)
	return err == nil && fi.IsDir() && fi.Mode()&0o022 == 0
}

// lockEntry: no lock elsewhere; concurrent cold probes each probe.
func lockEntry(string, time.Duration, func() bool) (func(), bool) { return nil, false }
