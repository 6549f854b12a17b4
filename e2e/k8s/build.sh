#!/bin/sh
# build.sh: build the Kubernetes control plane, kubelet, kubectl and etcd that
# the e2e/k8s suite runs, from the Go module proxy, into
# <repo>/.cache/k8s-$K8S_VERSION/bin. Reused when that directory already holds
# every binary stamped with the same versions (a cold build took 17 minutes of
# two cores here, 1,667 CPU seconds; the cached check takes milliseconds).
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every staging
# repository (k8s.io/api, k8s.io/client-go, ...) with a directory inside its
# own tree. So this script generates a small module (under .cache, never
# committed) that requires k8s.io/kubernetes and replaces each staging
# repository, read from kubernetes' own go.mod, with its published v0.X.Y.
# etcd gets its own module (a three-line main calling etcdmain.Main) so its
# dependency versions never fight Kubernetes'.
#
# Usage: e2e/k8s/build.sh            (prints the bin directory on success)
# Env:   K8S_VERSION (v1.34.4), ETCD_VERSION (v3.6.16), K8S_CACHE (dir)
set -eu

K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${K8S_CACHE:-$repo/.cache/k8s-$K8S_VERSION}
bin=$cache/bin
stamp="kubernetes=$K8S_VERSION etcd=$ETCD_VERSION"
bins="kubelet kube-apiserver kube-controller-manager kube-scheduler kubectl etcd"

cached() {
	[ -f "$bin/VERSION" ] && [ "$(cat "$bin/VERSION")" = "$stamp" ] || return 1
	for b in $bins; do [ -x "$bin/$b" ] || return 1; done
}
if cached; then
	echo "$bin"
	exit 0
fi

# v1.34.4 -> staging repositories are published as v0.34.4.
staging=v0.${K8S_VERSION#v1.}
src=$cache/src
mkdir -p "$src/kubernetes" "$src/etcd" "$bin"
rm -f "$bin/VERSION"

gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$gomod" ] || { echo "build.sh: no go.mod for k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
# Every `k8s.io/X => ./staging/src/k8s.io/X` line of kubernetes' go.mod.
repls=$(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\1#p' "$gomod")
[ -n "$repls" ] || { echo "build.sh: no staging replace directives in $gomod" >&2; exit 1; }

cd "$src/kubernetes"
{
	echo "module rro-runc.local/k8s-build"
	echo
	echo "go 1.24.0"
	# Kubernetes pins some GODEBUG defaults in its go.mod; keep them.
	grep '^godebug' "$gomod" || true
	echo
	echo "require k8s.io/kubernetes $K8S_VERSION"
	echo
	for r in $repls; do echo "replace $r => $r $staging"; done
} >go.mod
cat >tools.go <<'GO'
//go:build tools

// Package tools only records the commands this module builds, so that
// `go mod tidy` resolves their dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
go mod tidy
v=k8s.io/component-base/version
ld="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=$(echo "$K8S_VERSION" | sed 's/^v\([0-9]*\)\..*/\1/')"
ld="$ld -X $v.gitMinor=$(echo "$K8S_VERSION" | sed 's/^v[0-9]*\.\([0-9]*\)\..*/\1/') -X $v.gitTreeState=clean"
# One go build for all five commands: one action graph, so their shared
# packages (apimachinery, client-go, ...) are scheduled once and the links
# overlap with compiles instead of running one after another.
cmds="kubelet kube-apiserver kube-controller-manager kube-scheduler kubectl"
echo "build.sh: building $cmds $K8S_VERSION" >&2
rm -rf "$bin/new" && mkdir -p "$bin/new"
pkgs=
for c in $cmds; do pkgs="$pkgs k8s.io/kubernetes/cmd/$c"; done
# shellcheck disable=SC2086 # pkgs is a word list
CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$bin/new/" $pkgs
for c in $cmds; do mv "$bin/new/$c" "$bin/$c"; done
rmdir "$bin/new"

cd "$src/etcd"
cat >go.mod <<GOMOD
module rro-runc.local/etcd-build

go 1.24.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
cat >main.go <<'GO'
// Command etcd is etcd's own server entry point, built from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
go mod tidy
echo "build.sh: building etcd $ETCD_VERSION" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/etcd.new" .
mv "$bin/etcd.new" "$bin/etcd"

echo "$stamp" >"$bin/VERSION"
echo "$bin"
