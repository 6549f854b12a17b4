// Package wrapper holds the end-to-end tests of rro-runc itself over the
// real runc and crun: real containers, a real host volume with nested tmpfs
// submounts, written to from inside the container. They need root; under
// CI=true they fail instead of skipping.
package wrapper
