package probe

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ProbeKernel checks for mount_setattr(2) by calling it on fd -1 with an
// empty path: a kernel that has it fails with EBADF or EINVAL, one that
// lacks it with ENOSYS.
func ProbeKernel() Kernel {
	k := Kernel{Release: release()}
	empty := [1]byte{}
	_, _, errno := unix.Syscall6(unix.SYS_MOUNT_SETATTR, ^uintptr(0), uintptr(unsafe.Pointer(&empty[0])), 0, 0, 0, 0)
	switch {
	case errors.Is(errno, unix.ENOSYS):
		k.Method = "mount_setattr(2) returned ENOSYS: not in this kernel"
	case errors.Is(errno, unix.EPERM):
		// A seccomp filter (rro-runc itself running in a container) will
		// block the runtime's real call the same way.
		k.Method = "mount_setattr(2) returned EPERM: blocked, probably by seccomp"
	case errno == 0:
		// Cannot happen with these arguments; the call exists either way.
		k.MountSetattr, k.Method = true, "mount_setattr(2) present"
	default:
		k.MountSetattr, k.Method = true, "mount_setattr(2) present (invalid-argument call returned "+unix.ErrnoName(errno)+")"
	}
	return k
}

func release() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
