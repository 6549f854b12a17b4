#!/usr/bin/env bash
# Whole-process benchmark of rro-runc against direct runc (see bench/README.md).
#
#   make bench         full run; writes bench/results.md
#   make bench-smoke   BENCH_SMOKE=1: a few calls of everything, no figures to trust
#
# Needs root. Installs what it needs (runc, strace, busybox-static) when
# missing. Without root it skips, except under CI=true where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin:$PATH

if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "bench: must run as root under CI" >&2
		exit 1
	fi
	echo "bench: skipped, needs root (runc create)" >&2
	exit 0
fi

missing=()
command -v runc >/dev/null || missing+=(runc)
command -v strace >/dev/null || missing+=(strace)
[ -x /bin/busybox ] || command -v busybox >/dev/null || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# The engine case drives containerd 2.x, which e2e/setup.sh builds into
# .cache (Debian packages only 1.6).
if [ ! -x .cache/containerd-v2.4.2/bin/ctr ]; then
	./e2e/setup.sh >&2
fi

wrapper=bin/rro-runc
if [ ! -x "$wrapper" ]; then
	echo "bench: $wrapper is missing; run make build (or make bench, which does)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/rrobench-bin.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The harness, and the floors built exactly like rro-runc (Makefile flags):
# the Go one shows what the Go runtime's start alone costs, the C one what
# any exec costs.
go build -o "$tmp/rrobench" ./internal/bench/cmd/rrobench
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/execonly-go" ./internal/bench/cmd/execonly
floor_c=()
if command -v cc >/dev/null &&
	{ cc -O2 -static -o "$tmp/execonly-c" internal/bench/floor/execonly.c 2>/dev/null ||
		cc -O2 -o "$tmp/execonly-c" internal/bench/floor/execonly.c; }; then
	floor_c=(-execonly-c "$tmp/execonly-c")
fi

args=(-wrapper "$wrapper" -execonly-go "$tmp/execonly-go" "${floor_c[@]}")
if [ -n "${BENCH_SMOKE:-}" ]; then
	args+=(-smoke)
else
	args+=(-out internal/bench/results.md)
fi
"$tmp/rrobench" "${args[@]}" "$@"

# The in-process rewrite of 1,000 and 10,000 mounts, so a regression there
# shows in the same report (go test's own timing; -count 5 for a spread).
benchtime=(-count 5)
[ -n "${BENCH_SMOKE:-}" ] && benchtime=(-benchtime 1x -count 1)
{
	echo
	echo "### The rewrite in process (\`go test -run '^\$' -bench 'Rewrite' -benchmem ./rewrite\`)"
	echo
	echo '```'
	go test -run '^$' -bench 'Rewrite' -benchmem "${benchtime[@]}" ./rewrite | grep -E '^(Benchmark|goos|goarch|cpu)'
	echo '```'
} | if [ -n "${BENCH_SMOKE:-}" ]; then cat; else tee -a internal/bench/results.md; fi
