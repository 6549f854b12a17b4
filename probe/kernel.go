// Package probe finds out what the kernel and the real runtime can do
// about recursive read-only mounts.
//
// Guarantees:
//   - The kernel check has no side effect: it calls mount_setattr(2) with
//     arguments the kernel rejects before doing anything, and only ENOSYS
//     means the call is missing. Nothing is mounted.
//   - The runtime check runs the runtime's `features` and `--version`
//     with no stdin, captured output and a timeout, never more.
//   - Runtime answers are cached per runtime file identity (path, device,
//     inode, size, mtime) and boot: a warm answer costs a stat and two
//     small reads and starts no process. A cache that is corrupt, stale,
//     unreadable or unwritable is re-probed, never an error.
package probe

// Kernel is what the running kernel offers.
type Kernel struct {
	Release      string // uname -r
	MountSetattr bool   // mount_setattr(2) exists (Linux >= 5.12)
	Method       string // how MountSetattr was decided
}
