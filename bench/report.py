#!/usr/bin/env python3
"""Turns the hyperfine JSON files of bench/compare.sh into the Markdown
tables of BENCHMARKS.md, with the ratios and the targets of issue 6.

usage: report.py OUT "NS" "HOSTS" STOA
"""
import json
import os
import platform
import re
import subprocess
import sys

OUT, NS, HOSTS, STOA = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]


def load(name):
    p = f"{OUT}/json/{name}.json"
    if not os.path.exists(p):
        return None
    r = json.load(open(p))["results"][0]
    return r


def fmt(t):
    if t >= 10:
        return f"{t:.1f} s"
    if t >= 1:
        return f"{t:.2f} s"
    return f"{t * 1000:.0f} ms" if t >= 0.1 else f"{t * 1000:.1f} ms"


def cell(name):
    r = load(name)
    if r is None:
        return "–"
    n = len(r["times"])
    if n == 1:
        return f"{fmt(r['median'])} (1 run)"
    return f"{fmt(r['median'])} ({fmt(r['min'])}–{fmt(r['max'])}, {n} runs)"


def med(name):
    r = load(name)
    return None if r is None else r["median"]


def ratio(a, b):
    if a is None or b is None:
        return None
    return a / b


def cmd(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


lines = []
p = lines.append
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
mem = "?"
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal"):
        mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
p("### Machine and versions\n")
p(f"- {cmd('nproc')} CPUs ({cpu}), {mem} RAM, {platform.system()} {platform.release()}")
osr = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', open("/etc/os-release").read(), re.M))
try:
    p("- load average (1/5/15 min) " + "; ".join(open(f"{OUT}/load.txt").read().strip().splitlines()))
except OSError:
    pass
try:
    rev = open(f"{OUT}/source.txt").read().strip()  # the sources when the run started
except OSError:
    rev = "?"
p(f"- {osr.get('PRETTY_NAME', '?')}; {cmd(STOA, '--version')} (source {rev}); "
  f"{cmd('ansible-playbook', '--version').splitlines()[0]}; {cmd('nix-instantiate', '--version')}; "
  f"{cmd('hyperfine', '--version')}; {cmd('ssh', '-V') or subprocess.run(['ssh', '-V'], capture_output=True, text=True).stderr.strip()}")
p("")

targets = []
p("### Deploy: one host with N containers, over SSH on loopback\n")
p("Median (min–max, runs) of each case; the ratios are Ansible's median over stoa's, from the same run.\n")
p("| N | case | stoa switch | Ansible, default config | Ansible, pipelining + warm ControlPersist | Ansible default / stoa | Ansible pipelining / stoa |")
p("|---|---|---|---|---|---|---|")
for n in NS:
    for case, label in [("first", "first deploy"), ("noop", "no-op"), ("one", "one file changed")]:
        s, d, a = med(f"{case}-stoa-{n}"), med(f"{case}-ansible-{n}"), med(f"{case}-ansible-pipe-{n}")
        rd, ra = ratio(d, s), ratio(a, s)
        p(f"| {n} | {label} | {cell(f'{case}-stoa-{n}')} | {cell(f'{case}-ansible-{n}')} | "
          f"{cell(f'{case}-ansible-pipe-{n}')} | {rd:.1f}x | **{ra:.1f}x** |" if s and d and a
          else f"| {n} | {label} | {cell(f'{case}-stoa-{n}')} | – | – | – | – |")
        goal = {"10": 10, "100": 50}.get(n)
        if goal and ra is not None:
            targets.append((f"{label}, N = {n}: Ansible (pipelining, warm) / stoa ≥ {goal}", f"{ra:.1f}x", ra >= goal))
p("")
p("The floor, same node, same run: one SSH command, and the installed files (the same bytes) copied with `tar | ssh`.\n")
p("`ssh … true` three ways: OpenSSH's defaults; with `-o KexAlgorithms=curve25519-sha256`, the key "
  "exchange russh negotiates with this sshd; and that with TCP_NODELAY set from the start, as russh does "
  "(`LD_PRELOAD` of bench/floor/nodelay.c). The no-op target is checked against the strictest one measured.\n")
p("| N | files | `ssh … true` | curve25519 | curve25519 + TCP_NODELAY | `tar \\| ssh` | stoa no-op / `ssh true` | stoa no-op / strictest floor | stoa first deploy / `tar \\| ssh` |")
p("|---|---|---|---|---|---|---|---|---|")
for n in NS:
    files = "?"
    try:
        files = open(f"{OUT}/files-{n}.txt").read().strip()
    except OSError:
        pass
    s_true, s_x, s_nd, tar = med(f"ssh-true-{n}"), med(f"ssh-true-x25519-{n}"), med(f"ssh-true-nodelay-{n}"), med(f"tar-ssh-{n}")
    noop, first = med(f"noop-stoa-{n}"), med(f"first-stoa-{n}")
    strict = min(x for x in (s_true, s_x, s_nd) if x is not None)
    r1, r1x, r2 = ratio(noop, s_true), ratio(noop, strict), ratio(first, tar)
    p(f"| {n} | {files} | {cell(f'ssh-true-{n}')} | {cell(f'ssh-true-x25519-{n}')} | {cell(f'ssh-true-nodelay-{n}')} | "
      f"{cell(f'tar-ssh-{n}')} | {r1:.2f}x | **{r1x:.2f}x** | {r2:.2f}x |")
    if r1x is not None:
        targets.append((f"no-op switch / strictest `ssh true` floor ≤ 1.5, N = {n}", f"{r1x:.2f}x", r1x <= 1.5))
p("")

p("### Reading the node's live state\n")
p("Every plan and switch reads the live state of everything the generation installed (each file's "
  "sha256 and mode, each container's config and running state, each compose file in its container) in "
  "the round trip it makes anyway. A no-op `stoa switch` and a `stoa diff` (the plan, read-only) against "
  "the `ssh … true` floor of the same run.\n")
p("| N | `ssh … true` | no-op `stoa switch` | `stoa diff` | no-op / `ssh true` | diff / `ssh true` |")
p("|---|---|---|---|---|---|")
for n in NS:
    s_true, noop, dif = med(f"ssh-true-{n}"), med(f"noop-stoa-{n}"), med(f"diff-stoa-{n}")
    if dif is None:
        continue
    r1, r2 = ratio(noop, s_true), ratio(dif, s_true)
    p(f"| {n} | {cell(f'ssh-true-{n}')} | {cell(f'noop-stoa-{n}')} | {cell(f'diff-stoa-{n}')} | {r1:.2f}x | {r2:.2f}x |")
    if n == "100" and r1 is not None:
        targets.append(("no-op switch with the live-state read / `ssh true` ≤ 1.5, N = 100", f"{r1:.2f}x", r1 <= 1.5))
p("")

p("### `pct` processes per stoa switch\n")
p("Counted in the test node's call log over one more run of each case (every `pct` is a Perl "
  "start-up of a few hundred milliseconds on a real node). Targets: a no-op switch runs none, a "
  "change to one container one, a first deploy at most two per container.\n")
p("| N | first deploy | per container | no-op | one file changed | by subcommand (first deploy) |")
p("|---|---|---|---|---|---|")


def pct(case, n):
    try:
        lines = open(f"{OUT}/pct-{case}-{n}.txt").read().split("\n")
    except OSError:
        return None, ""
    total = int(lines[0].strip() or 0)
    by = ", ".join(f"{l.split()[0]} {l.split()[1]}" for l in lines[1:] if l.strip())
    return total, by


for n in NS:
    first, by = pct("first", n)
    noop, _ = pct("noop", n)
    one, _ = pct("one", n)
    if first is None:
        continue
    per = first / int(n)
    p(f"| {n} | {first} | {per:.1f} | {noop} | {one} | {by} |")
    targets.append((f"pct per switch, N = {n}: no-op 0, one change 1, first deploy ≤ 2 per container",
                    f"{noop}, {one}, {per:.1f}", noop == 0 and one == 1 and per <= 2))
p("")

p("### Evaluation: `stoa check` vs `nix-instantiate --eval --strict`\n")
p("Generated inventories (bench/gen_inventory.py): each host has 20 containers and goes through 10 "
  "modules; the Nix expression (bench/gen_nix.py, bench/nix/) declares the same options and merges the "
  "same modules. stoa runs without its eval cache (`.stoa/` moved aside before each run).\n")
p("| hosts | stoa check | nix-instantiate --eval --strict | stoa per host | Nix per host | stoa / Nix | CPU (user+sys) stoa / Nix |")
p("|---|---|---|---|---|---|---|")
per = {}
for h in HOSTS:
    s, x = med(f"check-stoa-{h}"), med(f"eval-nix-{h}")
    if s is None or x is None:
        continue
    per[h] = (s / int(h), x / int(h))
    r = s / x
    cs, cx = load(f"check-stoa-{h}"), load(f"eval-nix-{h}")
    cpu = f"{fmt(cs['user'] + cs['system'])} / {fmt(cx['user'] + cx['system'])}"
    p(f"| {h} | {cell(f'check-stoa-{h}')} | {cell(f'eval-nix-{h}')} | {fmt(s / int(h))} | {fmt(x / int(h))} | **{r:.2f}** | {cpu} |")
    targets.append((f"evaluation, {h} hosts: stoa / Nix ≤ 1", f"{r:.2f}", r <= 1))
if len(HOSTS) >= 2 and HOSTS[-1] in per and HOSTS[-2] in per:
    a, b = HOSTS[-2], HOSTS[-1]
    g = per[b][0] / per[a][0]
    gn = per[b][1] / per[a][1]
    p(f"\nGrowth: time per host at {b} hosts over time per host at {a} hosts: stoa {g:.2f}, Nix {gn:.2f} (1.00 = linear).")
    targets.append((f"evaluation grows linearly ({a} -> {b} hosts, per-host time ratio ≤ 1.2)", f"{g:.2f}", g <= 1.2))
p("")
p("### Targets\n")
p("| target | measured | met |")
p("|---|---|---|")
for t, m, ok in targets:
    p(f"| {t} | {m} | {'yes' if ok else '**no**'} |")
print("\n".join(lines))
