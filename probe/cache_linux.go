package probe

import (
	"os"
	"strings"
	"time"

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

// inUserNamespace reports whether this process's uids are mapped from a
// parent namespace: /proc/self/uid_map is anything but the initial
// namespace's identity map "0 0 4294967295".
func inUserNamespace() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	f := strings.Fields(string(b))
	return err == nil && !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
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

// isELF reports whether the file at abs is still the build of key and an
// ELF executable: a program the kernel runs itself, so that what answered
// the probe is this file. Only such a runtime is cached (see Runtime).
// A file the caller cannot read is not known to be one.
func isELF(abs string, key cacheKey) bool {
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Dev != key.Dev || st.Ino != key.Ino || st.Size != key.Size ||
		st.Mtim.Nano() != key.MtimeNs || st.Ctim.Nano() != key.CtimeNs {
		return false
	}
	var magic [4]byte
	n, err := readAtLeast(fd, magic[:], len(magic))
	return err == nil && n == len(magic) && string(magic[:]) == "\x7fELF"
}

// privateDir makes sure dir exists and is a directory (not a symlink)
// owned by this user and writable by no one else, creating it with mode
// 0700 when missing. A place that fails this (say /tmp/rro-runc-UID made
// beforehand by another user, or a symlink there) is not used: the cache
// is then neither locked nor written, and every create probes.
func privateDir(dir string) bool {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false
	}
	var st unix.Stat_t
	return unix.Lstat(dir, &st) == nil &&
		st.Mode&unix.S_IFMT == unix.S_IFDIR &&
		int(st.Uid) == os.Geteuid() &&
		st.Mode&0o022 == 0
}

// lockEntry takes the exclusive flock on lock, waiting at most wait, and
// returns the function that releases it; or answered=true as soon as
// answered() says the holder's answer is there (waiters then read it side
// by side rather than taking the lock one after another, which under load
// cost seconds for 50 creates); or neither when the lock cannot be had:
// not created, not a regular file of ours, held too long. The caller then
// probes without it: a lock only saves work, it never stops a create. A
// holder that dies releases it with its last descriptor, so a killed
// prober cannot block anyone; the descriptor is close-on-exec, so the
// runtime the holder probes does not hold it.
func lockEntry(lock string, wait time.Duration, answered func() bool) (unlock func(), done bool) {
	fd, err := unix.Open(lock, unix.O_RDONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() {
		unix.Close(fd)
		return nil, false
	}
	// Polled rather than a blocking flock: a blocked flock(2) cannot be
	// given up on after a deadline, nor notice that the answer arrived.
	deadline := time.Now().Add(wait)
	for sleep := time.Millisecond; ; sleep = min(2*sleep, 20*time.Millisecond) {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Close(fd) }, false
		}
		if (err != unix.EWOULDBLOCK && err != unix.EINTR) || time.Now().After(deadline) {
			unix.Close(fd)
			return nil, false
		}
		time.Sleep(sleep)
		if answered() {
			unix.Close(fd)
			return nil, true
		}
	}
}
