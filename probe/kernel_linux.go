package probe

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ProbeKernel checks for mount_setattr(2) by calling it on fd -1 with an
// empty path and a zero attribute size: the kernel rejects the size (or
// the fd) before it resolves any path, so a kernel that has the call
// answers EINVAL or EBADF, one that lacks it ENOSYS.
func ProbeKernel() Kernel {
	k := Kernel{Release: release()}
	empty := [1]byte{}
	_, _, errno := unix.Syscall6(unix.SYS_MOUNT_SETATTR, ^uintptr(0), uintptr(unsafe.Pointer(&empty[0])), 0, 0, 0, 0)
	switch errno {
	case unix.ENOSYS:
		k.Method = "mount_setattr(2) returned ENOSYS: not in this kernel"
	case unix.EPERM:
		// A seccomp filter (rro-runc itself running in a container) will
		// block the runtime's real call the same way.
		k.Method = "mount_setattr(2) returned EPERM: blocked, probably by seccomp"
	case 0:
		// Cannot happen with these arguments; the call exists either way.
		k.MountSetattr, k.Method = true, "mount_setattr(2) present"
	default:
		k.MountSetattr, k.Method = true, "mount_setattr(2) present (a call with invalid arguments returned "+unix.ErrnoName(errno)+")"
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
