#!/bin/sh
# make deb: stage the Debian package's tree and build it with dpkg-deb.
#   VERSION   the version (git describe); made a valid Debian version
#   BIN_DIR   where rro-runc and rroctl are (default bin/); rro-nri is
#             packaged when present
#   OUT_DIR   where the .deb goes (default bin/)
# Prints the path of the .deb. The package installs into /usr/bin (the
# engine configuration is left to `rroctl configure`, run by the admin),
# /etc/rro-runc/config.toml as a conffile, and docs.
set -eu
cd "$(dirname "$0")/../.."
VERSION=${VERSION:-dev}
BIN_DIR=${BIN_DIR:-bin}
OUT_DIR=${OUT_DIR:-bin}
command -v dpkg-deb >/dev/null || { echo "make deb needs dpkg-deb (dpkg)" >&2; exit 1; }

# Debian versions start with a digit and use '-' only before a revision:
# v1.2.0-3-gabc -> 1.2.0+3.gabc; 0978a87-dirty -> 0~git0978a87+dirty.
v=${VERSION#v}
case $v in [0-9]*) ;; *) v="0~git$v" ;; esac
deb_version=$(printf '%s' "$v" | sed 's/-/+/; s/-/./g')
arch=$(dpkg --print-architecture)

stage=$(mktemp -d "${TMPDIR:-/tmp}/rro-runc-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$stage/etc/rro-runc" "$stage/usr/share/doc/rro-runc"
for b in rro-runc rroctl; do
	[ -x "$BIN_DIR/$b" ] || { echo "make deb: $BIN_DIR/$b missing (make build)" >&2; exit 1; }
	install -m 0755 "$BIN_DIR/$b" "$stage/usr/bin/$b"
done
[ ! -x "$BIN_DIR/rro-nri" ] || install -m 0755 "$BIN_DIR/rro-nri" "$stage/usr/bin/rro-nri"
# The same default file rroctl install writes.
install -m 0644 cmd/rroctl/default-config.toml "$stage/etc/rro-runc/config.toml"
install -m 0644 README.md "$stage/usr/share/doc/rro-runc/README.md"
install -m 0644 docs/rroctl.md "$stage/usr/share/doc/rro-runc/rroctl.md"
install -m 0644 LICENSE "$stage/usr/share/doc/rro-runc/copyright"

sed -e "s/@VERSION@/$deb_version/" -e "s/@ARCH@/$arch/" packaging/deb/control.in >"$stage/DEBIAN/control"
printf 'Installed-Size: %s\n' "$(du -sk --exclude=DEBIAN "$stage" | cut -f1)" >>"$stage/DEBIAN/control"
# dpkg keeps an edited config.toml across upgrades and removes it on purge.
echo /etc/rro-runc/config.toml >"$stage/DEBIAN/conffiles"
(cd "$stage" && find usr etc -type f -exec md5sum {} +) >"$stage/DEBIAN/md5sums"

mkdir -p "$OUT_DIR"
out="$OUT_DIR/rro-runc_${deb_version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$out" >/dev/null
echo "$out"
