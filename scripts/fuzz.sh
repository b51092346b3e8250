#!/usr/bin/env bash
# fuzz.sh BUILD SECONDS - run py-heap's libFuzzer targets for SECONDS each.
#
# fuzz_core mutates whole core files (seeds: small cores made here and the
# head of a real one); fuzz_heap patches a real core of a real interpreter
# (the graph fixture's) and runs every command on it; fuzz_maps parses
# /proc/PID/maps texts (seed: this shell's own). Inputs that crashed
# before (tests/fuzz/regressions/) are replayed first. A crash is saved in
# BUILD/fuzz/crashes/: copy it to tests/fuzz/regressions/ once fixed.
set -euo pipefail
build=${1:-build}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fz=$build/fuzz
mkdir -p "$fz/corpus-core" "$fz/corpus-heap" "$fz/corpus-maps" "$fz/crashes"

# The seed core: the graph fixture under Debian's python3.11.
cores=$build/cores
if ! python3 -c "
import sys; sys.path.insert(0, 'tests/integration')
import graph_checks
print(graph_checks.take_core('heap_graph.py', '$cores/heap_graph-3.11'))
" >/dev/null; then
	echo "fuzz.sh: could not take the seed core" >&2
	exit 1
fi
core=$cores/heap_graph-3.11/core
export PYHEAP_FUZZ_CORE=$core

# Seeds for the core reader: the core's first 64 KiB (headers, notes' start)
# and its notes alone.
head -c 65536 "$core" > "$fz/corpus-core/seed-head"
[ -f "$fz/corpus-heap/seed-empty" ] || : > "$fz/corpus-heap/seed-empty"
cat /proc/$$/maps > "$fz/corpus-maps/seed-self"

status=0
for target in core heap maps; do
	bin=$fz/fuzz_$target
	regs=(tests/fuzz/regressions/$target-*)
	if [ -e "${regs[0]}" ]; then
		echo "fuzz.sh: replaying ${#regs[@]} regression inputs for fuzz_$target"
		"$bin" -runs=1 "${regs[@]}" >"$fz/replay-$target.log" 2>&1 || {
			echo "fuzz.sh: a regression input fails again:" >&2
			tail -30 "$fz/replay-$target.log" >&2
			status=1
		}
	fi
	echo "fuzz.sh: fuzz_$target for ${seconds}s"
	extra=()
	[ $target = core ] && extra=(-max_len=65536)
	[ $target = heap ] && extra=(-max_len=512 -len_control=0)
	[ $target = maps ] && extra=(-max_len=16384)
	if ! "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="$fz/crashes/$target-" \
		"${extra[@]}" "$fz/corpus-$target" >"$fz/fuzz-$target.log" 2>&1; then
		echo "fuzz.sh: fuzz_$target found a problem:" >&2
		tail -40 "$fz/fuzz-$target.log" >&2
		status=1
	fi
	grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$fz/fuzz-$target.log" | tail -1 || true
done
if [ $status -eq 0 ]; then
	echo "fuzz: 3 passed, 0 failed"
else
	echo "fuzz: 0 passed, 1 failed"
fi
exit $status
