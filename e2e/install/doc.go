// Package install holds the end-to-end tests of rro-runc's ways onto a
// node, run for real on this machine:
//
//   - the installer image (make image's tarball) loaded into Docker 20.10
//     and run as `IMAGE install --host-root /host` against a temporary
//     node root with its own containerd 2.x configuration and bin
//     directory; that containerd then started on the resulting config
//     (with the node's bin directory as its /usr/local/bin), a CRI pod run
//     through the "rro" handler whose read-only volume's nested submounts
//     are read-only (and, as the control, writable through runc); then
//     `IMAGE uninstall` and the node root compared with what it was;
//   - the same tarball imported with `ctr image import`, and the
//     Dockerfile built by Docker into the same image;
//   - the Debian package installed with dpkg on this machine, the demo run
//     with the installed binaries, then removed and purged.
//
// They need root. The Docker tests must run under
// `flock /tmp/rro-docker.lock` (one dockerd at a time on the machine).
// Under CI=true a missing prerequisite fails instead of skipping.
package install
