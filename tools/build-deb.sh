#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Builds Fulcrum's Debian packages (debian/) with dpkg-buildpackage on a copy
# of the source tree, so that the tree and its build/ stay as they are, and
# puts the .deb files (fulcrum, fulcrum-node and their -dbgsym), the
# .buildinfo and the .changes in OUTDIR. `make deb` runs it.
#
#   tools/build-deb.sh OUTDIR
#
# The copy holds the files git knows of, tracked or new, as they are in the
# working tree (or, outside a git checkout, everything but build output).
set -eu

[ $# -eq 1 ] || {
	echo "usage: tools/build-deb.sh OUTDIR" >&2
	exit 2
}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/fulcrum-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

for tool in dpkg-buildpackage dh; do
	command -v "$tool" >/dev/null 2>&1 ||
		{ echo "build-deb: $tool is missing: apt-get install dpkg-dev debhelper" >&2; exit 1; }
done

src=$work/fulcrum
mkdir "$src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$root" ls-files --cached --others --exclude-standard |
		while IFS= read -r f; do [ -e "$root/$f" ] && printf '%s\n' "$f"; done |
		tar -C "$root" -cf - -T - | tar -C "$src" -xf -
else
	tar -C "$root" --exclude=./build --exclude='./build-*' --exclude=./debian/tmp \
		--exclude=./debian/.debhelper -cf - . | tar -C "$src" -xf -
fi

echo "build-deb: dpkg-buildpackage -b in $src"
(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$work/build.log" 2>&1 || {
	tail -n 40 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (the last 40 lines are above)" >&2
	exit 1
}
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes; do
	[ -e "$f" ] || continue
	mv "$f" "$out/"
	echo "build-deb: $out/${f##*/}"
done
