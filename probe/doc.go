// Package probe finds out what the kernel and the real runtime can do
// about recursive read-only mounts (the OCI mount option "rro").
//
// Guarantees:
//   - The kernel check has no side effect: it calls mount_setattr(2) with
//     arguments the kernel rejects before looking at any mount, and only
//     ENOSYS (or a seccomp EPERM) means the call is unusable. Nothing is
//     mounted.
//   - The runtime check runs the runtime's `features` and `--version`,
//     each with stdin on /dev/null, output captured and bounded, and a
//     timeout that kills the runtime's whole process group. Nothing else
//     is run, and the runtime is run by the path it will be exec'd by.
//   - Runtime answers are cached per runtime build (path, device, inode,
//     size, mtime, ctime) and boot (boot id). A warm answer costs a stat,
//     a read of the boot id and a read of the cache file, and starts no
//     process. A cache file that is corrupt, stale, not ours, unreadable
//     or unwritable is re-probed and rewritten when possible: it is never
//     an error. Writes are atomic renames, so concurrent probes need no
//     lock, never wait for each other and never see half a file.
//   - An error from Prober.Runtime only ever means the runtime cannot be
//     run at all; it wraps ErrRuntime and names the path. Any other
//     trouble (a hung runtime, garbage output) is an answer of "no rro",
//     with a Reason saying why.
package probe
