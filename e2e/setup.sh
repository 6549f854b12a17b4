#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian 12 machine (root), and is
# a no-op when everything is there: the runtimes and clients the e2e suites
# drive for real, crictl (not packaged in Debian) into <repo>/.cache/bin and
# containerd 2.x into <repo>/.cache/containerd-VERSION/bin, where e2e/fixture
# looks for them. Starts no daemon: each suite starts its own.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

[ "$(id -u)" = 0 ] || { echo "e2e/setup.sh: needs root (apt-get)" >&2; exit 1; }

packages=(runc crun busybox-static containerd docker.io podman hyperfine
	iptables uidmap conmon ca-certificates git openssl)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "e2e/setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# Installing docker.io or containerd must not start daemons that would
	# hold /run/containerd and /run/docker: the suites start their own.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# crictl drives the CRI plugin; a project-local GOBIN keeps CI from
# rebuilding it (about 1.5 minutes) when .cache is kept between runs.
CRICTL_VERSION=v1.34.0
crictl=.cache/bin/crictl
# `go install` stamps no version into crictl --version; the module's is in
# the build info.
if ! { [ -x "$crictl" ] && go version -m "$crictl" 2>/dev/null | grep -q "sigs.k8s.io/cri-tools[[:space:]]*$CRICTL_VERSION"; }; then
	echo "e2e/setup.sh: go install sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
	mkdir -p .cache/bin
	GOBIN="$(pwd)/.cache/bin" go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
fi
# containerd 2.x is not packaged for Debian 12: the clients suites run a
# pinned build beside Debian's containerd 1.6, from a directory of its own
# (e2e/fixture puts it first in PATH so containerd finds its own shim).
# Built with `go install` from the module proxy (about 75 s), reused while
# every binary's build info names the pinned module version.
CONTAINERD2_VERSION=v2.4.2
containerd2_bin=".cache/containerd-${CONTAINERD2_VERSION}/bin"
containerd2_ok=true
for b in containerd containerd-shim-runc-v2 ctr; do
	if ! { [ -x "$containerd2_bin/$b" ] && go version -m "$containerd2_bin/$b" 2>/dev/null |
		grep -q "^[[:space:]]*mod[[:space:]]*github.com/containerd/containerd/v2[[:space:]]*$CONTAINERD2_VERSION[[:space:]]"; }; then
		containerd2_ok=false
	fi
done
if ! $containerd2_ok; then
	echo "e2e/setup.sh: go install github.com/containerd/containerd/v2/cmd/{containerd,containerd-shim-runc-v2,ctr}@$CONTAINERD2_VERSION"
	mkdir -p "$containerd2_bin"
	GOBIN="$(pwd)/$containerd2_bin" go install \
		"github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD2_VERSION" \
		"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD2_VERSION" \
		"github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD2_VERSION"
fi
echo "e2e/setup.sh: ready ($(runc --version | head -1); $(containerd --version); $(/usr/bin/docker --version); $(podman --version); crictl $CRICTL_VERSION; $("$containerd2_bin/containerd" --version))"
