// Package reliability holds the root-only end-to-end tests of rro-runc's
// reliability promises: a config.json rewrite killed at any moment leaves
// the old file or the new one, whole; fifty parallel creates over real runc
// from a cold probe cache all get rro without waiting on each other; every
// row of docs/bad-input.md (bad bundles, bad wrapper configuration, bad
// runtimes, bad caches) fails with the status and message the table
// promises, leaves config.json alone and still reaches the runtime for
// pass-through commands; and the lifecycle commands containerd calls while
// it recovers reach real runc unchanged while the wrapper's configuration
// file is missing, corrupt or unreadable.
//
// They need root; under CI=true they fail instead of skipping.
package reliability
