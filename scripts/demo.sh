#!/usr/bin/env bash
# demo.sh - what `make demo` runs (after installing packages and building):
# start a small Python service with planted leaks, take its core with gcore,
# and show py-heap finding the leaks, from the shell and in GDB: first what
# holds the memory (leaks), then inside it, then the other two leaks; last,
# a picture of who holds a Session (graph) and the HTML report of the heap.
#
# The core is kept in build/demo/core for you to explore afterwards, the
# report in build/demo/report.html.
# Run from the top of the source tree. Exits non-zero if any step fails.
set -euo pipefail

PYTHON=${PYTHON:-/usr/bin/python3.11}
BUILD=${BUILD:-build}
BIN=$BUILD/bin/py-heap
OUT=$BUILD/demo
CORE=$OUT/core
CORE2=$OUT/core2 # the same process after one more batch of traffic
READY_TIMEOUT=60 # seconds the program may take to build its heap

cd "$(dirname "$0")/.."

die() {
	echo "demo: $*" >&2
	exit 1
}

if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD= PLAIN=; fi

step() {
	printf '\n%s==> %s%s\n' "$BOLD" "$1" "$PLAIN"
	shift
	for line in "$@"; do
		printf '    %s\n' "$line"
	done
}

# GDB prints where the core stopped as it loads it; the demo is about the
# heap, so those lines are left out.
quiet_gdb() {
	grep -v -E '^\[New LWP|^\[Thread debugging|^Using host libthread_db|^Core was generated|^#0 |^[0-9]+[[:space:]]+\.\./sysdeps/|^\[Current thread is' || true
}

[[ -x $PYTHON ]] || die "$PYTHON not found (Debian 12: apt-get install python3.11)"
[[ -x $BIN ]] || die "$BIN not found: run \`make\` first"
command -v gdb >/dev/null || die "gdb not found (apt-get install gdb)"
command -v gcore >/dev/null || die "gcore not found (it comes with gdb)"

WORK=$(mktemp -d /tmp/py-heap-demo.XXXXXX)
APP_PID=
cleanup() {
	if [[ -n $APP_PID ]] && kill -0 "$APP_PID" 2>/dev/null; then
		kill "$APP_PID" 2>/dev/null || true
		wait "$APP_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# ---- 1. a process to inspect ------------------------------------------------
step "1. Start a Python service with three planted leaks" \
	"fixtures/demo_app.py handles 20,000 fake requests and caches a Session per" \
	"user in a module-level dict it never evicts; it drops Connection pairs that" \
	"point at each other (.peer) while the collector is off; and it leaks 25" \
	"references to a Report, as a C extension with a missing Py_DECREF would."
"$PYTHON" fixtures/demo_app.py "$WORK" &
APP_PID=$!
for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
	[[ -s $WORK/ready ]] && break
	kill -0 "$APP_PID" 2>/dev/null || die "demo_app.py exited early"
	sleep 0.1
done
[[ -s $WORK/ready ]] || die "demo_app.py was not ready after ${READY_TIMEOUT}s"
echo "    running as pid $APP_PID ($PYTHON)"

# ---- 2. its core --------------------------------------------------------------
step "2. Take a core dump of it with gcore, then stop it" \
	"py-heap never runs code in the process: everything below reads the core."
mkdir -p "$OUT"
rm -f "$CORE" "$CORE".*
gcore -o "$CORE" "$APP_PID" >"$WORK/gcore.log" 2>&1 ||
	{ cat "$WORK/gcore.log" >&2; die "gcore failed (ptrace not permitted? run as root)"; }
mv "$CORE.$APP_PID" "$CORE"
# a second core, after one more batch of traffic (SIGUSR1): step 6
kill -USR1 "$APP_PID"
for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
	[[ -e $WORK/batch-1 ]] && break
	sleep 0.1
done
[[ -e $WORK/batch-1 ]] || die "demo_app.py did not serve its second batch"
rm -f "$CORE2" "$CORE2".*
gcore -o "$CORE2" "$APP_PID" >"$WORK/gcore.log" 2>&1 ||
	{ cat "$WORK/gcore.log" >&2; die "gcore failed"; }
mv "$CORE2.$APP_PID" "$CORE2"
kill "$APP_PID"
wait "$APP_PID" 2>/dev/null || true
APP_PID=
echo "    core: $CORE ($(du -h "$CORE" | cut -f1)); and after 2,000 more requests: $CORE2"

# ---- 3. what holds the memory? -------------------------------------------------
step "3. What holds the memory? One command: py-heap leaks" \
	"The objects that retain at least 10% of the heap (what deleting them would" \
	"free), each followed down the dominator tree to where the memory accumulates." \
	"" \
	"\$ $BIN --core $CORE leaks"
"$BIN" --core "$CORE" leaks | tee "$WORK/leaks.txt"
grep -q "_SESSIONS" "$WORK/leaks.txt" && grep -q "__main__.Session" "$WORK/leaks.txt" ||
	die "leaks did not find _SESSIONS holding the Sessions"
"$BIN" --core "$CORE" --json leaks >"$WORK/leaks.json"
ACC=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["suspects"][0]["accumulation"]["address"])' <"$WORK/leaks.json") ||
	die "no accumulation point in leaks --json"
echo
echo "    The module global _SESSIONS accumulates the Sessions: the cache that is never evicted."

# ---- 4. inside the accumulation point, in GDB ---------------------------------------
step "4. Inside it, in GDB: what it retains, object by object (its dominator tree)" \
	"\$ gdb -batch -nx -ex 'source gdb/py-heap.py' -ex 'py-heap retained $ACC' \\" \
	"      -ex 'py-heap dominators --tree $ACC --depth 2 --limit 3' $PYTHON $CORE"
echo
gdb -batch -nx -ex 'source gdb/py-heap.py' \
	-ex "py-heap retained $ACC" \
	-ex "py-heap dominators --tree $ACC --depth 2 --limit 3" \
	"$PYTHON" "$CORE" >"$WORK/gdb.out" 2>"$WORK/gdb.err" ||
	{ cat "$WORK/gdb.out" "$WORK/gdb.err" >&2; die "gdb failed"; }
quiet_gdb <"$WORK/gdb.out"
grep -q "retained:" "$WORK/gdb.out" && grep -q "__main__.Session" "$WORK/gdb.out" ||
	{ cat "$WORK/gdb.err" >&2; die "py-heap in GDB did not show the tree"; }

# ---- 5. the other two leaks -----------------------------------------------------------
step "5. The other two leaks, and a first look at the rest" \
	"types:    which types fill the heap (count, sys.getsizeof() bytes, and retained)" \
	"cycles --unreachable: reference cycles nothing reaches: gc.collect() would free them" \
	"refcheck: objects whose refcount is higher than the references that exist" \
	"" \
	"\$ gdb -batch -nx -ex 'source gdb/py-heap.py' -ex 'py-heap types --retained --limit 8' \\" \
	"      -ex 'py-heap cycles --unreachable --limit 3' -ex 'py-heap refcheck --limit 5' \\" \
	"      $PYTHON $CORE"
echo
gdb -batch -nx -ex 'source gdb/py-heap.py' \
	-ex 'py-heap types --retained --limit 8' \
	-ex 'py-heap cycles --unreachable --limit 3' \
	-ex 'py-heap refcheck --limit 5' \
	"$PYTHON" "$CORE" >"$WORK/gdb2.out" 2>"$WORK/gdb2.err" ||
	{ cat "$WORK/gdb2.out" "$WORK/gdb2.err" >&2; die "gdb failed"; }
quiet_gdb <"$WORK/gdb2.out"
for want in 'RETAINED' 'unreachable cycles' 'checked '; do
	grep -q -F "$want" "$WORK/gdb2.out" ||
		{ cat "$WORK/gdb2.err" >&2; die "py-heap in GDB did not print '$want'"; }
done

# ---- 6. why is a Session alive? -------------------------------------------------------
step "6. Why is one Session alive? Pick one and ask for its path from a root" \
	"\$ $BIN --core $CORE --json list __main__.Session --limit 1"
"$BIN" --core "$CORE" --json list __main__.Session --limit 1 | tee "$WORK/list.json"
ADDR=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["objects"][0]["address"])' <"$WORK/list.json") ||
	die "no Session in the listing"
echo
echo "    \$ $BIN --core $CORE path $ADDR"
"$BIN" --core "$CORE" path "$ADDR" | tee "$WORK/path.out"
grep -q "_SESSIONS" "$WORK/path.out" || die "path did not lead through _SESSIONS"

# ---- 7. what grew -----------------------------------------------------------------
step "7. What grew? The same process after 2,000 more requests, against the first core" \
	"Objects are matched by address; where the new ones went is the nearest" \
	"container that was there before, with its path from a root." \
	"" \
	"\$ $BIN --core $CORE2 diff $CORE --limit 6"
"$BIN" --core "$CORE2" diff "$CORE" --limit 6 | tee "$WORK/diff.out"
grep -q -F "['_SESSIONS'] (dict): +2,000 __main__.Session" "$WORK/diff.out" ||
	die "diff did not name _SESSIONS as where the Sessions went"

# ---- 8. the pictures and the report ------------------------------------------------
REPORT=$OUT/report.html
step "8. The pictures: who holds that Session, and one page on the whole heap" \
	"graph draws the objects around one with graphviz; report writes one HTML page" \
	"(types, leak suspects, cycles, refcounts, with pictures) to open in a browser." \
	"" \
	"\$ $BIN --core $CORE graph $ADDR --output $OUT/session.svg" \
	"\$ $BIN --core $CORE report --output $REPORT"
"$BIN" --core "$CORE" graph "$ADDR" --output "$OUT/session.svg"
"$BIN" --core "$CORE" report --output "$REPORT"
grep -q "_SESSIONS" "$REPORT" || die "the report did not name _SESSIONS"
echo
echo "    The report is in $REPORT: open it in a browser (file://$(realpath "$REPORT"))."

step "Done" \
	"The core is kept in $CORE, the report in $REPORT. Explore further, for example:" \
	"  $BIN --core $CORE refcount ADDR      (an address from refcheck)" \
	"  $BIN --core $CORE dominators         (the objects that retain the most)" \
	"  gdb $PYTHON $CORE   then   source gdb/py-heap.py   and   help py-heap" \
	"docs/manual.md walks through this hunt step by step."
