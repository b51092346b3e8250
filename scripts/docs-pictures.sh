#!/usr/bin/env bash
# docs-pictures.sh - remake the pictures in docs/ from the demo's core:
# the README's screenshot of the report (headless Chromium) and the
# manual's graph pictures (py-heap graph --output FILE.png).
#
#   bash scripts/docs-pictures.sh     (after `make demo`; it runs the demo
#                                      itself when build/demo/core is missing)
#
# The addresses in the pictures are those of the demo's core of the day.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
BIN=$BUILD/bin/py-heap
CORE=$BUILD/demo/core
PYTHON=${PYTHON:-/usr/bin/python3.11}
[[ -s $CORE ]] || bash scripts/demo.sh >/dev/null
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[[ -n $CHROMIUM ]] || { echo "docs-pictures: chromium not found (apt-get install chromium)" >&2; exit 1; }

addr() { # the first address of a JSON listing
	"$PYTHON" -c 'import json, sys; d = json.load(sys.stdin); print(d[sys.argv[1]][0]["address"])' "$1"
}
SESSION=$("$BIN" --core "$CORE" --json list __main__.Session --limit 1 | addr objects)
# the leak's accumulation point: the _SESSIONS dict
SESSIONS=$("$BIN" --core "$CORE" --json leaks --limit 1 |
	"$PYTHON" -c 'import json, sys; s = json.load(sys.stdin)["suspects"][0]; print(s.get("accumulation", s)["address"])')

"$BIN" --core "$CORE" graph "$SESSION" --output docs/graph-backrefs.png
"$BIN" --core "$CORE" graph "$SESSIONS" --refs --depth 1 --output docs/graph-refs.png
"$BIN" --core "$CORE" report --output "$BUILD/demo/report.html"

profile=$(mktemp -d /tmp/py-heap-chromium.XXXXXX)
trap 'rm -rf "$profile"' EXIT
# (as root Chromium needs --no-sandbox; no network: every host resolves to nothing)
"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--no-first-run --user-data-dir="$profile" \
	--host-resolver-rules='MAP * ~NOTFOUND' --window-size=1200,1500 \
	--screenshot="$PWD/docs/report.png" "file://$(realpath "$BUILD/demo/report.html")" \
	>/dev/null 2>&1
file docs/report.png docs/graph-backrefs.png docs/graph-refs.png
