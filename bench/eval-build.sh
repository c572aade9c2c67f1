#!/usr/bin/env bash
# Evaluation and build benchmarks (issues 2 and 3): `stoa check` and
# `stoa build --all` on the bundled lab and on generated inventories of 1,
# 100 and 1000 hosts (20 containers through 10 modules each). Needs
# hyperfine (installed if missing). Results: target/bench/*.json and the
# summary lines printed at the end, then the peak memory (`/usr/bin/time`,
# installed if missing) of a cold check and a cold build of the largest
# inventory.
#
# Environment: SIZES (default "1 100 1000"), STOA (a stoa binary to measure
# instead of building this tree's), OUT (default target/bench), KEEP_TRASH=1
# (leave $OUT/trash for a later run to remove: back-to-back runs then do not
# measure each other's deletions).
#
# A cold run starts without `.stoa/`: the previous one is moved aside into
# $OUT/trash/ (removed at the end), not deleted. On an ext4 file system
# without a journal (like this machine's) the inode allocator skips inodes
# freed in the last minute or more (`recently_deleted`), so a build right
# after `rm -rf .stoa` of 45000 entries spends most of its time scanning
# them; that measures the preparation, not stoa (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if [ -z "${STOA:-}" ]; then
  cargo build --release --quiet --bin stoa
  STOA=${CARGO_TARGET_DIR:-$PWD/target}/release/stoa
fi
STOA=$(realpath "$STOA")
OUT=$(realpath -m "${OUT:-$PWD/target/bench}")
SIZES=${SIZES:-1 100 1000}
mkdir -p "$OUT"
for n in $SIZES; do
  [ -d "$OUT/inv$n" ] || python3 bench/gen_inventory.py "$n" "$OUT/inv$n"
done
LAB=$OUT/lab
rm -rf "$LAB" && mkdir -p "$LAB" && cp -r stoa.toml hosts modules "$LAB/"
TRASH=$OUT/trash
mkdir -p "$TRASH"
[ "${KEEP_TRASH:-}" = 1 ] || trap 'rm -rf "$TRASH"' EXIT
echo "stoa: $STOA; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# The command that moves DIR/.stoa aside (a cold start).
aside() { echo "sh -c 'if [ -e $1/.stoa ]; then mv $1/.stoa \$(mktemp -d -p $TRASH)/; fi'"; }

# bench NAME RUNS PREPARE COMMAND
bench() {
  hyperfine -N --style basic --warmup 1 --runs "$2" --prepare "$3" --export-json "$OUT/$1.json" -n "$1" "$4" >/dev/null
  python3 - "$OUT/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"{r['command']:<32} median {r['median']*1000:9.1f} ms   min {r['min']*1000:9.1f}   max {r['max']*1000:9.1f}   user+sys {(r['user']+r['system'])*1000:9.1f}")
PY
}

runs() { case $1 in 1) echo 20 ;; 100) echo 5 ;; *) echo 3 ;; esac; }

bench "check lab" 20 "$(aside "$LAB")" "$STOA -C $LAB check"
for n in $SIZES; do
  bench "check $n hosts" "$(runs "$n")" "$(aside "$OUT/inv$n")" "$STOA -C $OUT/inv$n check"
done
bench "build lab cold" 20 "$(aside "$LAB")" "$STOA -C $LAB build --all"
bench "build lab no-op" 30 "true" "$STOA -C $LAB build --all"
for n in $SIZES; do
  [ "$n" -ge 100 ] || continue
  bench "build $n hosts cold" "$(runs "$n")" "$(aside "$OUT/inv$n")" "$STOA -C $OUT/inv$n build --all"
  bench "build $n hosts no-op" 5 "true" "$STOA -C $OUT/inv$n build --all"
  # One host file changes before each run (back and forth): one host is
  # evaluated, every other configuration is read from the cache and checked.
  flip="python3 -c \"import pathlib; p = pathlib.Path('$OUT/inv$n/hosts/h0000.rhai'); t = p.read_text(); p.write_text(t.replace('n: 0, ', 'n: 0, cores: 3, ', 1) if 'cores: 3' not in t else t.replace('cores: 3, ', '', 1))\""
  bench "build $n hosts one changed" 5 "$flip" "$STOA -C $OUT/inv$n build --all"
  grep -q 'cores: 3' "$OUT/inv$n/hosts/h0000.rhai" && eval "$flip"
done

# Peak memory of cold runs of the largest inventory.
big=$(echo "$SIZES" | tr ' ' '\n' | sort -n | tail -1)
for cmd in check "build --all"; do
  eval "$(aside "$OUT/inv$big")"
  /usr/bin/time -f "%M" -o "$OUT/rss.txt" "$STOA" -C "$OUT/inv$big" $cmd >/dev/null 2>&1 || true
  printf '%-32s peak RSS %6d MB\n' "$cmd $big hosts cold" $(( $(cat "$OUT/rss.txt") / 1024 ))
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
