#!/usr/bin/env bash
# interpreters.sh - the CPython interpreters the integration tests run on:
# Debian's /usr/bin/python3.11 (always), and the machine image's pyenv
# builds of every other version py-heap supports, where present.
set -u
supported="3.11 3.12 3.13"
out=(/usr/bin/python3.11)
root=$(pyenv root 2>/dev/null || echo /root/.pyenv)
for v in $supported; do
	for py in "$root"/versions/"$v".*/bin/python"$v"; do
		[ -x "$py" ] && out+=("$py")
	done
done
echo "${out[@]}"
