// Package clients holds the end-to-end suites that run rro-runc under the
// real container clients of this machine, as a user installs it: containerd
// 1.6 and 2.4 (built by e2e/setup.sh) through ctr and through the CRI plugin
// (crictl; on 2.x also beside Kubernetes' own per-mount recursive_read_only),
// Docker 20.10, and Podman 4.3 as root and rootless (a user the test makes). Each suite starts its own private daemon (see e2e/fixture),
// configures it with `rroctl configure`, and shows from inside a container
// that writes under a read-only volume's submounts fail with EROFS through
// rro-runc while the plain runtime leaves them writable.
//
// The suites need root; under CI=true they fail instead of skipping.
// TestCaptureConfigs also records the config.json each client writes into
// testdata/clients (go test ./e2e/clients -run Capture -update).
package clients
