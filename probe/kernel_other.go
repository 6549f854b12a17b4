//go:build !linux

package probe

// ProbeKernel reports no mount_setattr: it is a Linux system call.
func ProbeKernel() Kernel {
	return Kernel{Release: "unknown", Method: "not Linux: mount_setattr(2) is a Linux system call"}
}
