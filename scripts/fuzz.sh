#!/usr/bin/env bash
# fuzz.sh BUILD SECONDS - run py-heap's libFuzzer targets for SECONDS each.
#
# fuzz_core mutates whole core files (seeds: small cores made here and the
# head of a real one); fuzz_heap patches a real core of a real interpreter
# (the graph fixture's) and runs every command on it; fuzz_maps parses
# /proc/PID/maps texts (seed: this shell's own); fuzz_snapshot mutates
# snapshot files (seeds: the graph core's snapshot and a three-object one
# made here) and diffs what it reads; fuzz_layout gives the layout cache
# (the DWARF check's outcome) files made up or patched, and reads the graph
# core with every layout it accepts; fuzz_symcache does the same with the
# symbols' cache (syms-BUILDID) and every file it accepts; fuzz_diffresult
# reads a diff's result as the outputs' cache keeps it (seed: one written
# here), and packs again what it accepts; fuzz_index patches one of the
# caches py-heap wrote for the seed core (the index, the graph's, an
# answer's), sums it again, seals it or not (seeds: each mode and file,
# made here), and runs commands on the core with it; then again on the
# free-threaded build's core of that fixture. Inputs that crashed
# before (tests/fuzz/regressions/) are replayed first, with every command
# (PYHEAP_FUZZ_ALL=1: fuzz_heap, fuzz_layout, fuzz_symcache and fuzz_index
# run one group per input else). A crash is saved in
# BUILD/fuzz/crashes/: copy it to tests/fuzz/regressions/ once fixed.
set -euo pipefail
build=${1:-build}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fz=$build/fuzz
mkdir -p "$fz/corpus-core" "$fz/corpus-heap" "$fz/corpus-maps" \
	"$fz/corpus-snapshot" "$fz/corpus-layout" "$fz/corpus-symcache" \
	"$fz/corpus-diffresult" "$fz/corpus-index" "$fz/crashes"

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

# fuzz_index's second seed: the same fixture under the first free-threaded
# build (3.13t, in its root), whose caches hold mimalloc's pages where the
# 3.11 seed's hold pools (a graph file's root no root named was found only
# there). None where no free-threaded build is made.
ft=$(PYHEAP_FT_ONLY=1 bash scripts/interpreters.sh 2>/dev/null | awk '{print $1}')
ft_core= ft_root=
if [ -n "$ft" ]; then
	ft_core=$(python3 -c "
import os, sys; sys.path.insert(0, 'tests/integration')
from interp import Interp
i = Interp(sys.argv[1])
d = os.path.join(sys.argv[2], 'heap_graph-' + i.tag)
i.take_core('heap_graph.py', d)
print(os.path.join(d, 'core'))
" "$ft" "$cores") || ft_core=
	ft_root=${ft%%::*}
	[ "$ft_root" = "$ft" ] && ft_root=
fi

# Seeds for the core reader: the core's first 64 KiB (headers, notes' start)
# and its notes alone.
head -c 65536 "$core" > "$fz/corpus-core/seed-head"
[ -f "$fz/corpus-heap/seed-empty" ] || : > "$fz/corpus-heap/seed-empty"
cat /proc/$$/maps > "$fz/corpus-maps/seed-self"
# the layout cache: an empty file, and the cache py-heap writes, patched
printf '' > "$fz/corpus-layout/seed-empty"
printf '\001' > "$fz/corpus-layout/seed-patched"
# the symbols' cache: the same
printf '' > "$fz/corpus-symcache/seed-empty"
printf '\001' > "$fz/corpus-symcache/seed-patched"

# Seeds for the snapshot reader: the graph core's snapshot, and a file of
# three objects and their tree written here from the format's description
# (docs/design.md, "The snapshot file").
"$build/bin/py-heap" --core "$core" snapshot \
	--output "$fz/corpus-snapshot/seed-graph" >/dev/null
python3 - "$fz/corpus-snapshot/seed-tiny" <<'PY'
import struct, sys
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1
    return c ^ 0xffffffff
def v(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7f | 0x80]); n >>= 7
    return out + bytes([n])
def s(t):
    return v(len(t)) + t.encode()
meta = v(16) + v(1) + v(3) + v(17) + v(1) + v(100) + v(14) + v(1) + v(1) + \
    v(7) + v(1) + v(42) + v(8) + v(16) + bytes(range(16))    # pid, AT_RANDOM
types = s("dict") + v(0x9000) + v(5) + v(0) + v(40) + v(1) + \
    s("str") + v(0x9100) + v(8) + v(1) + v(30) + v(2)
secs = [(1, 1, 5, meta), (2, 1, 2, types),
        (3, 1, 3, v(0x1000 >> 3) + v(2) + v(2)),      # ADDR
        (4, 1, 3, v(0) + v(1) + v(1)),                # TYPE
        (5, 1, 3, v(0) + v(0) + v(0)),                # SIZE
        (6, 1, 3, bytes([0x13, 0x00])),               # GEN
        (7, 1, 2, b"\x01\x02\x03\x04"),            # FP
        (8, 0, 3, v(1) + v(2) + v(6)),                # PARENT
        (9, 0, 1, s("module __main__")),              # ROOTS
        (10, 0, 2, v(0) + s("") + v(1) + s("['k']"))]  # NAMES
off = 64 + 32 * len(secs)
table, body = b"", b""
for sid, flags, count, data in secs:
    pad = (-off) % 8
    body += b"\0" * pad; off += pad
    table += struct.pack("<IIQQII", sid, flags, off, len(data), count,
                         crc32c(data))
    body += data; off += len(data)
body += b"\0" * ((-off) % 8); off += (-off) % 8
head = b"\x89PYHEAP\n" + struct.pack("<HHIQIIQ", 1, 0, 64, off, len(secs),
                                        0, 64)
head += struct.pack("<I", crc32c(table)) + b"\0" * 16
head += struct.pack("<I", crc32c(head))
open(sys.argv[1], "wb").write(head + table + body)
PY

# A diff's result as the outputs' cache keeps it: one of two types that
# grew, a container, a note (query_diff.c's ph_diff_result_pack)
python3 - "$fz/corpus-diffresult/seed-result" <<'PY'
import struct, sys
strs = b"\0".join(
    [b"", b"core", b"/tmp/c1", b"/tmp/c2", b"3.11.2", b"dict", b"list",
     b"module __main__", b"a note", b""])
def at(t):
    return strs.index(t.encode() + b"\0")
q = lambda *v: struct.pack("<%dQ" % len(v), *v)
head = q(2, 1, 1, len(strs), 1, 1, 0, 5, 10, 3, 100, 2)
side = lambda src: q(0, at(src), 0, at("3.11.2"), 42, 1700000000000000,
                     0, 1000, 50000, 0, 0, 0)
rows = q(at("dict"), 10, 15, 640, 960, 6, 1, 0) + \
    q(at("list"), 5, 6, 280, 336, 1, 0, 1)
grew = q(0, 5, 320, 0, 0x7f0000001000, at("dict"), at("module __main__"))
notes = q(at("a note"))
open(sys.argv[1], "wb").write(head + side("/tmp/c1") + side("/tmp/c2") +
                              rows + grew + notes + strs)
PY

# the caches (fuzz_index.c's input): a mode byte (sealed, header only,
# sums left; which file: the index, the graph's, an answer's, then the
# byte that picks it), patches (offset; a byte added to a word, or bytes
# written), the byte that picks the commands
for mode in 0 1 2 3 4 5 8 9 10 11 16 17 18 19; do
	for pick in 0 3 6; do
		o=$(printf '%03o' "$mode")
		p=$(printf '%03o' "$pick")
		printf "\\$o\\$p\\001\\002\\000\\000\\200\\001\\$p" \
			> "$fz/corpus-index/seed-mode$mode-$pick"
	done
done

status=0
# fuzz_$target's regression inputs replayed, then a run of $seconds on
# $fz/corpus-$1 (its logs and crashes named $1; $2 says which seed), with
# the environment the caller gives
fuzz_one() {
	local name=$1 seed=${2:+ ($2)}
	if [ -e "${regs[0]}" ]; then
		echo "fuzz.sh: replaying ${#regs[@]} regression inputs for fuzz_$target$seed"
		PYHEAP_FUZZ_ALL=1 "$bin" -runs=1 "${regs[@]}" >"$fz/replay-$name.log" 2>&1 || {
			echo "fuzz.sh: a regression input fails again$seed:" >&2
			tail -30 "$fz/replay-$name.log" >&2
			status=1
		}
	fi
	echo "fuzz.sh: fuzz_$target$seed for ${seconds}s"
	if ! "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix="$fz/crashes/$name-" \
		"${extra[@]}" "$fz/corpus-$name" >"$fz/fuzz-$name.log" 2>&1; then
		echo "fuzz.sh: fuzz_$target$seed found a problem:" >&2
		tail -40 "$fz/fuzz-$name.log" >&2
		status=1
	fi
	grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$fz/fuzz-$name.log" | tail -1 || true
}
targets=(core heap layout maps snapshot symcache diffresult index)
for target in "${targets[@]}"; do
	bin=$fz/fuzz_$target
	regs=(tests/fuzz/regressions/$target-*)
	extra=()
	[ $target = core ] && extra=(-max_len=65536)
	[ $target = heap ] && extra=(-max_len=512 -len_control=0)
	[ $target = maps ] && extra=(-max_len=16384)
	[ $target = snapshot ] && extra=(-max_len=1048576)
	[ $target = layout ] && extra=(-max_len=4096)
	[ $target = symcache ] && extra=(-max_len=4096 -len_control=0)
	[ $target = diffresult ] && extra=(-max_len=4096)
	[ $target = index ] && extra=(-max_len=256)
	fuzz_one $target
	if [ $target = index ] && [ -n "$ft_core" ]; then
		mkdir -p "$fz/corpus-index-ft"
		cp -n "$fz"/corpus-index/seed-* "$fz/corpus-index-ft/"
		PYHEAP_FUZZ_CORE=$ft_core PYHEAP_FUZZ_SYSROOT=$ft_root \
			fuzz_one index-ft "the free-threaded seed"
	fi
done
if [ $status -eq 0 ]; then
	echo "fuzz: ${#targets[@]} passed, 0 failed"
else
	echo "fuzz: 0 passed, 1 failed"
fi
exit $status
