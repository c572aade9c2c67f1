#!/usr/bin/env bash
# Evaluation and build benchmarks (issues 2 and 3): `stoa check` and
# `stoa build --all` on the bundled lab and on generated inventories of 1,
# 100 and 1000 hosts (20 containers through 10 modules each). Needs
# hyperfine (installed if missing). Results: target/bench/*.json and the
# summary lines printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release --quiet --bin stoa
STOA=$PWD/target/release/stoa
OUT=$PWD/target/bench
mkdir -p "$OUT"
for n in 1 100 1000; do
  [ -d "$OUT/inv$n" ] || python3 bench/gen_inventory.py "$n" "$OUT/inv$n"
done
LAB=$OUT/lab
rm -rf "$LAB" && mkdir -p "$LAB" && cp -r stoa.toml hosts modules "$LAB/"

# bench NAME RUNS PREPARE COMMAND
bench() {
  hyperfine -N --style basic --warmup 1 --runs "$2" --prepare "$3" --export-json "$OUT/$1.json" -n "$1" "$4" >/dev/null
  python3 - "$OUT/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"{r['command']:<28} median {r['median']*1000:9.1f} ms   min {r['min']*1000:9.1f}   max {r['max']*1000:9.1f}")
PY
}

bench "check lab" 20 "rm -rf $LAB/.stoa" "$STOA -C $LAB check"
bench "check 1 host" 20 "rm -rf $OUT/inv1/.stoa" "$STOA -C $OUT/inv1 check"
bench "check 100 hosts" 5 "rm -rf $OUT/inv100/.stoa" "$STOA -C $OUT/inv100 check"
bench "check 1000 hosts" 3 "rm -rf $OUT/inv1000/.stoa" "$STOA -C $OUT/inv1000 check"
bench "build lab cold" 20 "rm -rf $LAB/.stoa" "$STOA -C $LAB build --all"
bench "build lab no-op" 30 "true" "$STOA -C $LAB build --all"
bench "build 100 hosts cold" 5 "rm -rf $OUT/inv100/.stoa" "$STOA -C $OUT/inv100 build --all"
bench "build 1000 hosts cold" 3 "rm -rf $OUT/inv1000/.stoa" "$STOA -C $OUT/inv1000 build --all"
bench "build 1000 hosts no-op" 5 "true" "$STOA -C $OUT/inv1000 build --all"
