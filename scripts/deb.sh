#!/usr/bin/env bash
# deb.sh OUTDIR - the Debian packages of this tree (make deb): py-heap,
# libpyheap0, libpyheap-dev (and their -dbgsym) in OUTDIR, built by
# dpkg-buildpackage -us -uc -b from a copy of the tree (its clean step
# would remove this tree's build/), then checked by lintian: any error or
# warning fails. debian/changelog's version must be VERSION's.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() {
	echo "deb.sh: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: deb.sh OUTDIR"
mkdir -p "$1"
out=$(cd "$1" && pwd)
for tool in dpkg-buildpackage dh lintian; do
	command -v "$tool" >/dev/null ||
		die "$tool not found (scripts/install-deps.sh installs it)"
done

version=$(cat "$here/VERSION")
changelog=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
[ "$changelog" = "$version" ] ||
	die "debian/changelog is at $changelog, VERSION at $version: add an entry (dch -v $version)"

# The tree as it is now (tracked files and new ones git does not ignore;
# without git, everything but build/), without what earlier runs left.
src=$out/py-heap-$version
rm -rf "$out"/py-heap-* "$out"/*.deb "$out"/*.ddeb "$out"/*.changes \
	"$out"/*.buildinfo "$out"/build.log "$out"/lintian.log
mkdir -p "$src"
cd "$here"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$f" ] && printf '%s\0' "$f"
		done | tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build -cf - . | tar -xf - -C "$src"
fi

start=$(date +%s)
echo "deb.sh: dpkg-buildpackage -us -uc -b in $src (log: $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") \
	</dev/null >"$out/build.log" 2>&1; then
	tail -25 "$out/build.log" >&2
	die "dpkg-buildpackage failed; the whole log is $out/build.log"
fi
echo "deb.sh: built in $(($(date +%s) - start)) s:" \
	"$(cd "$out" && echo *.deb)"

changes=$(ls "$out"/py-heap_"$version"_*.changes)
echo "deb.sh: lintian $changes"
status=0
lintian --fail-on error,warning "$changes" >"$out/lintian.log" 2>&1 || status=$?
cat "$out/lintian.log"
[ "$status" = 0 ] || die "lintian: errors or warnings (above; $out/lintian.log)"
rm -rf "$src"
echo "deb.sh: lintian: no error, no warning"
