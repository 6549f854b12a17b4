package probe

import (
	"os"

	"golang.org/x/sys/unix"
)

// The warm path uses raw system calls: os.Open registers every file with
// the poller, which costs more than the reads themselves.

func identify(abs string) (cacheKey, error) {
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return cacheKey{}, &os.PathError{Op: "stat", Path: abs, Err: err}
	}
	return cacheKey{
		Path: abs, Dev: st.Dev, Ino: st.Ino, Size: st.Size,
		MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano(), BootID: BootID(),
	}, nil
}

// BootID is the kernel's random id of this boot, or "" where there is
// none.
func BootID() string {
	fd, err := unix.Open("/proc/sys/kernel/random/boot_id", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	// procfs hands out the whole 37 bytes in one read.
	var buf [64]byte
	n, err := readAtLeast(fd, buf[:], 1)
	if err != nil {
		return ""
	}
	b := buf[:n]
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}

// readCacheFile reads a cache file that can be trusted: a regular file
// (not followed through a symlink) owned by this user and writable by no
// one else. Anyone else who could write it could decide for root whether
// containers get rro.
func readCacheFile(file string) ([]byte, cacheState) {
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	switch {
	case err == unix.ELOOP:
		return nil, cacheUntrusted
	case err != nil:
		return nil, cacheMissing
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil ||
		st.Mode&unix.S_IFMT != unix.S_IFREG ||
		int(st.Uid) != os.Geteuid() ||
		st.Mode&0o022 != 0 ||
		st.Size > maxCacheFile {
		return nil, cacheUntrusted
	}
	// One byte more than the size, so a file that grew shows as a longer
	// read, not as a valid-looking prefix; no read to EOF is needed.
	buf := make([]byte, st.Size+1)
	n, err := readAtLeast(fd, buf, int(st.Size))
	if err != nil || int64(n) != st.Size {
		return nil, cacheStale
	}
	return buf[:n], cacheFresh
}

// readAtLeast reads into buf until it holds least bytes, buf is full, or
// the file ends; each read is a system call on the create path.
func readAtLeast(fd int, buf []byte, least int) (int, error) {
	n, least := 0, max(least, 1)
	for n < least {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}
