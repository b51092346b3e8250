#!/usr/bin/env bash
# interpreters.sh - the CPython interpreters the integration tests run on:
# Debian's /usr/bin/python3.11 (always); the machine image's pyenv builds
# of every version py-heap supports, where present; and Debian's own
# builds of other versions in roots made by fixtures/provision.sh (given
# as ROOT::PYTHON: run under chroot, read with --sysroot).
set -u
missing=0
here=$(cd "$(dirname "$0")/.." && pwd)
supported="3.8 3.9 3.10 3.11 3.12 3.13 3.14"
out=(/usr/bin/python3.11)
root=$(pyenv root 2>/dev/null || echo /root/.pyenv)
for v in $supported; do
	for py in "$root"/versions/"$v".*/bin/python"$v"; do
		[ -x "$py" ] && out+=("$py")
	done
done
# Debian's debug build of 3.11 (python3.11-dbg), when installed.
[ -x /usr/bin/python3.11d ] && out+=(/usr/bin/python3.11d)
# Debian's own builds (stripped, as users have them): bullseye's python3.9,
# trixie's python3.13, sid's python3.14 and python3.15; and their debug
# builds (Py_DEBUG, with pymalloc's debug hooks), python3.Xd.
for pair in bullseye:/usr/bin/python3.9 trixie:/usr/bin/python3.13 \
	sid:/usr/bin/python3.14 sid:/usr/bin/python3.15 \
	trixie:/usr/bin/python3.13d sid:/usr/bin/python3.14d \
	sid:/usr/bin/python3.15d; do
	suite=${pair%%:*} py=${pair#*:}
	if [ "${PYHEAP_NO_ROOTS:-}" = "" ] &&
		r=$(bash "$here/fixtures/provision.sh" "$suite" 2>/dev/null | tail -1) &&
		[ -x "$r$py" ]; then
		out+=("$r::$py")
	else
		echo "interpreters.sh: no Debian $suite root (fixtures/provision.sh $suite failed): its $py is not tested" >&2
		missing=1
	fi
done
# Free-threaded builds (--disable-gil), built from Debian's sources in the
# roots by fixtures/provision.sh trixie-ft / sid-ft: with PYHEAP_FT=1 as
# well, with PYHEAP_FT_ONLY=1 alone (make check's free-threaded loop).
# sid-ft's python3.14t and python3.15t need their Debian sources, which
# the mirror may not serve: a source the mirror does not have is said, not
# fatal; any other failure is (in CI, PYHEAP_REQUIRE_ROOTS=1).
if [ "${PYHEAP_FT_ONLY:-0}" = 1 ]; then
	out=()
fi
if [ "${PYHEAP_FT:-0}" = 1 ] || [ "${PYHEAP_FT_ONLY:-0}" = 1 ]; then
	for pair in trixie-ft:/opt/python3.13t/bin/python3.13t \
		trixie-ft:/opt/python3.13td/bin/python3.13td \
		sid-ft:/opt/python3.14t/bin/python3.14t \
		sid-ft:/opt/python3.15t/bin/python3.15t; do
		suite=${pair%%:*} py=${pair#*:}
		err=$(mktemp)
		r=$(bash "$here/fixtures/provision.sh" "$suite" 2>"$err" | tail -1)
		if [ -n "$r" ] && [ -x "$r$py" ]; then
			out+=("$r::$py")
		elif pkg=$(basename "$py" | sed -E 's/t?d?$//') &&
			grep -q "the mirror has no source of $pkg " "$err"; then
			# Not to be had here: said, not a failure.
			echo "interpreters.sh: no free-threaded $py: the mirror has no source of" \
				"$pkg $(grep -m1 -o "the mirror has no source of $pkg [^ ;]*" "$err" |
					awk '{print $NF}') (fixtures/provision.sh $suite): not tested" >&2
		else
			echo "interpreters.sh: no free-threaded $py (fixtures/provision.sh $suite failed): not tested" >&2
			missing=1
		fi
		rm -f "$err"
	done
fi
echo "${out[@]}"
# CI must cover every interpreter: there, a root that could not be made
# fails the run (PYHEAP_REQUIRE_ROOTS=1, set by .ci/run).
if [ "${PYHEAP_REQUIRE_ROOTS:-}" = 1 ] && [ "${missing:-0}" = 1 ]; then
	exit 1
fi
