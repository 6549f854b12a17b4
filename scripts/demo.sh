#!/bin/sh
# make demo: one real container, run twice with a read-only volume that
# holds a tmpfs which holds another tmpfs: once through plain runc, once
# through rro-runc. Needs root; installs runc and busybox-static when they
# are missing.
set -eu
RRO_RUNC=${RRO_RUNC:-$(pwd)/bin/rro-runc}
RUNC=${RUNC:-$(command -v runc || true)}
# What the demo needs from Debian: runc (the real runtime) and a static
# busybox (the container's whole userland).
missing=""
[ -n "$RUNC" ] || missing="runc"
[ -x /bin/busybox ] || missing="$missing busybox-static"
missing=${missing# }
if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root: it mounts tmpfs and runs containers." >&2
	if [ -n "$missing" ]; then
		echo "Run: sudo sh -c 'apt-get update && apt-get install -y $missing' && sudo make demo" >&2
	else
		echo "Run: sudo make demo" >&2
	fi
	exit 1
fi
if [ -n "$missing" ]; then
	echo "make demo: installing $missing (apt-get update, then apt-get install)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends $missing >/dev/null
	RUNC=${RUNC:-$(command -v runc || true)}
	[ -n "$RUNC" ] || RUNC=$(command -v runc)
fi

W=$(mktemp -d /tmp/rro-demo.XXXXXX)
cleanup() {
	"$RUNC" --root "$W/state" delete -f demo-plain >/dev/null 2>&1 || true
	"$RUNC" --root "$W/state" delete -f demo-rro >/dev/null 2>&1 || true
	umount "$W/vol/sub/deep" 2>/dev/null || true
	umount "$W/vol/sub" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

mkdir -p "$W/rootfs/bin" "$W/rootfs/proc" "$W/rootfs/sys" "$W/rootfs/dev" "$W/rootfs/tmp" "$W/vol/sub"
cp /bin/busybox "$W/rootfs/bin/busybox"
for applet in sh touch grep cat echo; do ln -s busybox "$W/rootfs/bin/$applet"; done
mount -t tmpfs tmpfs "$W/vol/sub"
mkdir "$W/vol/sub/deep"
mount -t tmpfs tmpfs "$W/vol/sub/deep"

PROBE='for d in /vol /vol/sub /vol/sub/deep; do if touch $d/x 2>/dev/null; then echo "  $d: WRITABLE"; else echo "  $d: read-only (EROFS)"; fi; done'
# The probe goes into a JSON string: escape backslashes and quotes.
PROBE_JSON=$(printf '%s' "$PROBE" | sed 's/\\/\\\\/g; s/"/\\"/g')

bundle() { # bundle NAME
	mkdir -p "$W/$1"
	cat >"$W/$1/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
    "args": ["/bin/sh", "-c", "$PROBE_JSON"],
    "env": ["PATH=/bin"],
    "capabilities": {"bounding": ["CAP_DAC_OVERRIDE"], "effective": ["CAP_DAC_OVERRIDE"], "permitted": ["CAP_DAC_OVERRIDE"]}},
  "root": {"path": "$W/rootfs", "readonly": true},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
    {"destination": "/vol", "type": "bind", "source": "$W/vol", "options": ["rbind", "ro"]}
  ],
  "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]}
}
JSON
}

bundle plain
bundle rro
echo "Host volume $W/vol: tmpfs at sub/, another tmpfs at sub/deep/; mounted into the container at /vol with [\"rbind\",\"ro\"]."
echo
echo "1) plain runc ($RUNC):"
"$RUNC" --root "$W/state" run --bundle "$W/plain" demo-plain
echo
echo "2) rro-runc ($RRO_RUNC), real runtime $RUNC:"
: >"$W/rro-runc.toml"
RRO_RUNC_CONFIG="$W/rro-runc.toml" RRO_RUNC_RUNTIME="$RUNC" "$RRO_RUNC" --root "$W/state" run --bundle "$W/rro" demo-rro
echo
echo "rro-runc's change to config.json (the /vol mount):"
grep -o '"options": *\[[^]]*"rro"[^]]*\]' "$W/rro/config.json" | sed 's/^/  /' || true
grep -o '"org.rro-runc.applied": *"[^"]*"' "$W/rro/config.json" | sed 's/^/  /' || true
