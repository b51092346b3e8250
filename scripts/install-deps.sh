#!/usr/bin/env bash
# install-deps.sh - install what py-heap needs to build and test, on Debian 12.
#
# Idempotent and quiet: it only installs the packages that are missing, and
# says nothing when none are. It must run as root to install (no sudo);
# as another user it succeeds only when nothing is missing.
set -euo pipefail

PACKAGES=(
	build-essential gcc make pkg-config	# the build
	libelf-dev libdw-dev libdebuginfod-dev	# elfutils' libraries
	zlib1g-dev				# compressed DWARF, inflated
	libdeflate-dev				# the same, faster (opened if there)
	libcunit1-dev				# unit tests
	gdb python3.11 python3			# the GDB extension, test drivers
	clang libclang-rt-14-dev		# -fsanitize, libFuzzer (its runtime)
	valgrind elfutils debootstrap file strace	# test tools
	python3.11-dbg debuginfod		# debug info, and a server for its tests
	# the Debian packages (make deb: dpkg-buildpackage, dh, lintian) and
	# what the packaging tests use (man, bash-completion's loader)
	debhelper dpkg-dev fakeroot lintian man-db bash-completion
	# the dominators' oracle (tests/integration/retained_checks.py:
	# networkx.immediate_dominators), and real applications' heaps
	# (tests/integration/apps_checks.py): about 17 MB to fetch, 140 MB
	# installed, a minute
	python3-networkx python3-numpy python3-pandas python3-sympy
	python3-django python3-flask python3-jinja2 python3-sqlalchemy
	# graph's and report's pictures: graphviz's libraries (opened when a
	# picture is drawn; the headers to build; their plugins draw SVG and
	# PNG), and the browser that renders the report in
	# tests/integration/pictures_checks.py (headless)
	libgraphviz-dev chromium
)

installed() {
	local status
	status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
	[[ $status == "install ok installed" || $status == "hold ok installed" ]]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-deps.sh: dpkg-query not found; this script is for Debian 12." >&2
	echo "install-deps.sh: install by hand: ${PACKAGES[*]}" >&2
	exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
	installed "$pkg" || missing+=("$pkg")
done

[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps.sh: missing packages: ${missing[*]}" >&2
	echo "install-deps.sh: run as root (e.g. sudo $0), or install them:" >&2
	echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# The downloaded packages are removed once installed (1.5 GB on a fresh
# machine, which the tests' cores and roots need more); the archive's
# packages that were there before are left alone.
apt-get install -y --no-install-recommends \
	-o APT::Keep-Downloaded-Packages=false "${missing[@]}"
