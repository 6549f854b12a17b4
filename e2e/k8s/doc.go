// Package k8s runs rro-runc under a real single-node Kubernetes cluster:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the
// kubelet (v1.34.4, built from the Go module proxy by build.sh into
// <repo>/.cache/k8s-v1.34.4/bin) on a private containerd 2.4.2 with its CRI
// plugin, driven with kubectl the way a cluster operator would.
//
// Guarantees:
//   - Every component listens on 127.0.0.1 or a unix socket under the
//     test's directory; there is no CNI, pods use the host network and
//     images are imported into containerd (imagePullPolicy: Never), so no
//     traffic leaves the machine.
//   - Nothing global changes. The kubelet runs in its own mount namespace
//     where the six kernel sysctls it would otherwise rewrite on the host
//     (vm.overcommit_memory, kernel.panic, ...) read as the values it wants
//     and /var/log (its /var/log/containers links) is a private tmpfs; it
//     creates no iptables chains (makeIPTablesUtilChains: false).
//   - Every process the suite starts is stopped by its PID when the test
//     ends, also on failure; leftover shims and runc containers of the
//     test's containerd are removed and everything mounted under the test's
//     directory (the kubelet's volume mounts included) is unmounted; after
//     the last test, the suite fails if a process or a mount of any of its
//     clusters is still there.
//   - Under CI=true a missing prerequisite fails the suite; it never skips.
package k8s
