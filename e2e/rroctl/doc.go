// Package rroctl holds the end-to-end tests of the rroctl binary on this
// machine: `probe` against the real runc and crun, and `verify` and
// `check` against real runc containers whose read-only volume holds
// nested tmpfs submounts, started once through plain runc and once
// through rro-runc. They need root; under CI=true they fail instead of
// skipping.
package rroctl
