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
//     size, mtime, ctime) and boot (boot id), and only for a runtime file
//     that is an ELF executable: the program that answered is then the
//     file of the key. A `#!` script (or any file run through an
//     interpreter or binfmt_misc) is probed on every call, because what
//     it runs can change while the script stays the same. A warm answer
//     costs a stat, a read of the boot id and a read of the cache file,
//     and starts no process. A cache file that is corrupt, stale, not
//     ours, unreadable or unwritable is re-probed and rewritten when
//     possible: it is never an error. Writes are atomic renames, so no
//     reader ever sees half a file.
//   - Concurrent cold probes of one runtime share one probe: the first
//     takes an flock on a lock file beside the cache entry, the others
//     wait for it (polling, at most the probe's own time bound, about
//     13 s by default) and then read its answer. A waiter that times out,
//     or a lock that cannot be created or taken, means probing without
//     it: never a deadlock, never an error. The lock file stays (an
//     empty file per runtime path).
//   - The cache lives in DefaultDir: $RRO_RUNC_CACHE_DIR, else for root
//     /run/rro-runc, else $XDG_RUNTIME_DIR/rro-runc, else
//     $TMPDIR/rro-runc-UID. It is used only when it is a directory (not a
//     symlink) owned by the caller and writable by no one else, created
//     with mode 0700 when missing; a cache file is trusted only when it is
//     a regular file owned by the caller and writable by no one else.
//   - An error from Prober.Runtime only ever means the runtime cannot be
//     run at all; it wraps ErrRuntime and names the path. Any other
//     trouble (a hung runtime, garbage output) is an answer of "no rro",
//     with a Reason saying why.
package probe
