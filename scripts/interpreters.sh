#!/usr/bin/env bash
# interpreters.sh - the CPython interpreters the integration tests run on:
# Debian's /usr/bin/python3.11 (always); the machine image's pyenv builds
# of every version py-heap supports, where present; and Debian's own
# builds of other versions in roots made by fixtures/provision.sh (given
# as ROOT::PYTHON: run under chroot, read with --sysroot).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
supported="3.11 3.12 3.13"
out=(/usr/bin/python3.11)
root=$(pyenv root 2>/dev/null || echo /root/.pyenv)
for v in $supported; do
	for py in "$root"/versions/"$v".*/bin/python"$v"; do
		[ -x "$py" ] && out+=("$py")
	done
done
# Debian trixie's python3.13 (stripped, as users have it).
if [ "${PYHEAP_NO_ROOTS:-}" = "" ] &&
	r=$(bash "$here/fixtures/provision.sh" trixie 2>/dev/null) &&
	[ -x "$r/usr/bin/python3.13" ]; then
	out+=("$r::/usr/bin/python3.13")
else
	echo "interpreters.sh: no Debian trixie root (fixtures/provision.sh trixie failed): its python3.13 is not tested" >&2
fi
echo "${out[@]}"
