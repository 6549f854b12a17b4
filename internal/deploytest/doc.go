// Package deploytest holds only tests: they decode deploy/*.yaml strictly
// with the Kubernetes API types (an unknown or misspelt field fails), and
// check that the manifests agree with each other and with rroctl: the
// DaemonSets' image is the one make image tags, their arguments are flags
// rroctl accepts, their node selector is the RuntimeClass's, and the
// RuntimeClass's handler is the runtime name rroctl install configures.
// k8s.io/api is a dependency of these tests only; no binary links it.
package deploytest
