#!/usr/bin/env bash
# Comparative benchmark (issue 6): stoa vs Ansible vs Nix, on loopback only.
# See BENCHMARKS.md for what is measured and the last results.
#
#   bench/compare.sh            everything (~20 min on 2 cores)
#   bench/compare.sh --quick    N = 1 and 10, 1 and 100 hosts, fewer runs (a smoke test)
#
# Run as root on Debian 12; installs ansible-core, nix-bin, hyperfine and
# openssh-server with apt-get when missing, builds stoa (`cargo build
# --release`, honouring CARGO_TARGET_DIR; or set STOA=/path/to/stoa), then:
#  1. makes two test nodes with scripts/stub-node (test /etc/pve, the `pct`
#     double), one for stoa and one for Ansible, each behind an sshd on a free
#     127.0.0.1 port (own host key, private mount namespace with an empty file
#     over /root/.bashrc; the node's doubles first on its PATH);
#  2. for N = 1, 10, 100 containers: generates one host description twice
#     (bench/gen_compare.py: a stoa project and an Ansible project whose
#     templates render the same bytes) and times first deploy, no-op and
#     one-file-changed with `stoa switch`, `ansible-playbook` (default
#     configuration) and `ansible-playbook` with pipelining + ControlPersist
#     (warm); plus the floor, `ssh … true` and `tar | ssh` of the same files;
#     after each case the two node roots are compared file by file (the floor
#     `ssh true` three ways: OpenSSH's defaults, the curve25519 key exchange
#     russh negotiates, and that with TCP_NODELAY set as russh does, through
#     the LD_PRELOAD shim bench/floor/nodelay.c when a C compiler is there);
#  3. evaluation: `stoa check` vs `nix-instantiate --eval --strict` of the
#     same inventories (bench/gen_inventory.py, bench/gen_nix.py) of 1, 100
#     and 1000 hosts;
#  4. writes OUT/results.md (the tables of BENCHMARKS.md) and OUT/*.json.
# Environment: OUT (default target/bench/compare), STOA, NS (default "1 10 100"),
# HOSTS (default "1 100 1000"), ANSIBLE (default 1; 0: time stoa and the floor
# only, e.g. `ANSIBLE=0 NS=100 HOSTS= bench/compare.sh`, a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
QUICK=0
[ "${1:-}" = --quick ] && QUICK=1
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (sshd must switch to root; apt-get)" >&2; exit 2; }

# --- 0. tools -------------------------------------------------------------
missing=()
ANSIBLE=${ANSIBLE:-1}
[ "$ANSIBLE" = 0 ] || command -v ansible-playbook >/dev/null || missing+=(ansible-core)
command -v nix-instantiate >/dev/null || missing+=(nix-bin)
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
PY=/usr/bin/python3
if [ -z "${STOA:-}" ]; then
  cargo build --release --quiet --bin stoa
  STOA=${CARGO_TARGET_DIR:-$REPO/target}/release/stoa
fi
STOA=$(realpath "$STOA")
OUT=$(realpath -m "${OUT:-$REPO/target/bench/compare}")
# NS / HOSTS set but empty: skip that part
if [ $QUICK = 1 ]; then NS=${NS-"1 10"}; HOSTS=${HOSTS-"1 100"}; else NS=${NS-"1 10 100"}; HOSTS=${HOSTS-"1 100 1000"}; fi
rm -rf "$OUT/json" && mkdir -p "$OUT/json"
echo "start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" > "$OUT/load.txt"
git -C "$REPO" describe --always --dirty > "$OUT/source.txt" 2>/dev/null || echo unknown > "$OUT/source.txt"
W=$(mktemp -d /tmp/stoa-compare.XXXXXX)
SSHD_PIDS=
cleanup() {
  # our persistent control connections (the default configuration's expire by themselves)
  for s in "$W"/cp/*; do
    [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null || true
  done
  for p in $SSHD_PIDS; do kill "$p" 2>/dev/null || true; done
  for D in "$W"/node-*; do [ -d "$D" ] && scripts/stub-node --stop "$D" >/dev/null; done
  sleep 0.5
  umount -l "$W"/node-*/root/etc/pve 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

# --- 1. the nodes -----------------------------------------------------------
# Two test nodes of scripts/stub-node (a test /etc/pve with pmxcfs's rules,
# the stateful `pct` double, recording docker/ifreload), one written by stoa
# and one by Ansible, each behind its own sshd; `ifup` is a recording double
# on both (the real ifupdown2 `ifup -s` takes 1.4 s here, once per interfaces
# change for both tools). Every call lands in <root>/calls.log.
DS=$W/node-stoa; RS=$DS/root        # node written by stoa
DA=$W/node-ansible; RA=$DA/root     # node written by Ansible
RF=$W/root-floor                    # files written by tar | ssh
mkdir -p "$RF" "$W/cp" /run/sshd
: > "$W/empty"
ssh-keygen -q -t ed25519 -N '' -C client -f "$W/client"
ssh-keygen -q -t ed25519 -N '' -C node -f "$W/host"
cp "$W/client.pub" "$W/authorized_keys"
for D in "$DS" "$DA"; do
  scripts/stub-node "$D" >/dev/null
  printf '#!/bin/sh\necho "ifup $*" >> "%s/calls.log"\n' "$D/root" > "$D/bin/ifup"
  chmod 755 "$D/bin/ifup"
done
# Empties a node (containers, configs, files) but its storages and templates.
cat > "$W/wipe" <<'WIPE'
#!/bin/sh
R=$1
rm -f "$R"/etc/pve/nodes/*/lxc/*.conf
find "$R" -mindepth 1 -maxdepth 1 ! -name etc ! -name var -exec rm -rf {} +
find "$R/etc" -mindepth 1 -maxdepth 1 ! -name pve -exec rm -rf {} +
find "$R/var" -mindepth 1 -maxdepth 1 ! -name lib -exec rm -rf {} +
find "$R/var/lib" -mindepth 1 -maxdepth 1 ! -name vz -exec rm -rf {} +
WIPE
chmod 755 "$W/wipe"
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
PORT_A=$(free_port)
# start_sshd PORT NODE-DIR: the node's own commands first on its PATH
start_sshd() {
  cat > "$W/sshd-$1.conf" <<EOF
Port $1
ListenAddress 127.0.0.1
HostKey $W/host
AuthorizedKeysFile $W/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
MaxStartups 100
MaxSessions 100
LogLevel ERROR
Subsystem sftp internal-sftp
SetEnv PATH=$2/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
  unshare -m sh -c "mount --bind '$W/empty' /root/.bashrc && exec /usr/sbin/sshd -D -e -f '$W/sshd-$1.conf'" 2>"$W/sshd-$1.log" &
  SSHD_PIDS="$SSHD_PIDS $!"
  printf '[127.0.0.1]:%s %s\n' "$1" "$(cat "$W/host.pub")" >> "$W/known_hosts"
}
start_sshd "$PORT" "$DS"
start_sshd "$PORT_A" "$DA"
SSH=(ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile="$W/known_hosts" -o StrictHostKeyChecking=yes -i "$W/client" -p "$PORT" root@127.0.0.1)
for p in "$PORT" "$PORT_A"; do
  for _ in $(seq 100); do "${SSH[@]}" -p "$p" true 2>/dev/null && break; sleep 0.1; done
  "${SSH[@]}" -p "$p" true || { cat "$W"/sshd-*.log >&2; exit 1; }
done
# The node's shell must not run pyenv (or anything else from .bashrc).
[ -z "$("${SSH[@]}" 'cat /root/.bashrc')" ] || { echo "compare.sh: /root/.bashrc is not masked" >&2; exit 1; }

# The strictest floor: OpenSSH with TCP_NODELAY from the start, like russh (needs a C compiler).
if command -v cc >/dev/null; then cc -shared -fPIC -O2 -o "$W/nodelay.so" bench/floor/nodelay.c -ldl || rm -f "$W/nodelay.so"; fi

# Ansible: no config file at all (default), or pipelining with a persistent
# control connection kept warm by the warm-up run.
printf '[defaults]\n' > "$W/default.cfg"
printf '[defaults]\n[ssh_connection]\npipelining = True\nssh_args = -C -o ControlMaster=auto -o ControlPersist=600s\ncontrol_path_dir = %s\n' "$W/cp" > "$W/pipelining.cfg"
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0

# --- helpers ------------------------------------------------------------------
# hf NAME RUNS WARMUP PREPARE COMMAND: one hyperfine benchmark -> json/NAME.json
hf() {
  local name=$1 runs=$2 warm=$3 prep=$4 cmd=$5
  local args=(-N --style none --runs "$runs" --warmup "$warm" --export-json "$OUT/json/$name.json" -n "$name")
  [ -n "$prep" ] && args+=(--prepare "$prep")
  echo "  $name" >&2
  hyperfine "${args[@]}" "$cmd" >/dev/null || {
    echo "compare.sh: $name failed; once more, with its output:" >&2
    [ -z "$prep" ] || sh -c "$prep" >&2
    sh -c "$cmd" >&2
    exit 1
  }
}
# count_pct CASE N PREPARE: one more stoa run of the case, counting the pct
# processes it started (each a Perl start-up on a real node) -> pct-CASE-N.txt
count_pct() {
  [ -z "$3" ] || sh -c "$3"
  : > "$RS/calls.log"
  $SW >/dev/null
  { grep -c '^pct ' "$RS/calls.log" || true; { grep '^pct ' "$RS/calls.log" || true; } | awk '{ print $2 }' | sort | uniq -c | awk '{ printf "%s %s\n", $2, $1 }'; } > "$OUT/pct-$1-$2.txt"
}
# The installed files of a node root: path, mode, owner:group, sha256.
tree() {
  (cd "$1" && find etc ct -type f -printf '%p %m %u:%g ' -exec sha256sum {} \; 2>/dev/null | awk '{print $1, $2, $3, $4}' | sort)
}
same() { # same ROOT_A ROOT_B WHAT
  if ! diff <(tree "$1") <(tree "$2") >"$W/tree.diff"; then
    echo "compare.sh: $3: the installed files differ:" >&2; head -20 "$W/tree.diff" >&2; exit 1
  fi
  echo "  verified: $3 ($(tree "$1" | wc -l) files identical)" >&2
}

# --- 2. the job three ways ---------------------------------------------------
for N in $NS; do
  echo "N = $N containers" >&2
  P=$W/n$N
  $PY bench/gen_compare.py "$N" "$P" "$PORT" "$RA" "$W/known_hosts" "$W/client" "$PORT_A"
  SW="$STOA -q -C $P/stoa switch node --yes --target ssh://root@127.0.0.1:$PORT --node-root $RS --known-hosts $W/known_hosts --identity $W/client"
  AD="env ANSIBLE_CONFIG=$W/default.cfg ansible-playbook -i $P/ansible/inventory.ini $P/ansible/site.yml"
  AP="env ANSIBLE_CONFIG=$W/pipelining.cfg ansible-playbook -i $P/ansible/inventory.ini $P/ansible/site.yml"
  # runs: stoa, Ansible with pipelining, Ansible default (one Ansible run
  # at N = 100 takes about two minutes here)
  case $N in
    1) RS_RUNS=20; RA_RUNS=3; RD_RUNS=2 ;;
    10) RS_RUNS=10; RA_RUNS=2; RD_RUNS=1 ;;
    *) RS_RUNS=5; RA_RUNS=1; RD_RUNS=1 ;;
  esac
  [ $QUICK = 1 ] && { RS_RUNS=5; RA_RUNS=1; RD_RUNS=1; }
  WIPE_S="sh -c '$W/wipe $RS && rm -rf $P/stoa/.stoa'"
  WIPE_A="$W/wipe $RA"
  BUMP="$PY $REPO/bench/gen_compare.py --bump $P"

  # first deploy: empty node (and, for stoa, an empty local store and eval
  # cache). Ansible with pipelining starts with its control connection up.
  hf "first-stoa-$N" $RS_RUNS 1 "$WIPE_S" "$SW"
  if [ "$ANSIBLE" != 0 ]; then
    hf "first-ansible-$N" $RD_RUNS 0 "$WIPE_A" "$AD"
    env ANSIBLE_CONFIG="$W/pipelining.cfg" ansible -i "$P/ansible/inventory.ini" node -m ping >/dev/null
    hf "first-ansible-pipe-$N" $RA_RUNS 0 "$WIPE_A" "$AP"
    same "$RS" "$RA" "first deploy, N=$N"
  fi
  count_pct first "$N" "$WIPE_S"
  (cd "$RS" && echo "$(find etc ct -type f | wc -l) files, $(find etc ct -type f -exec cat {} + | wc -c) bytes") > "$OUT/files-$N.txt"
  # the floor: one SSH command; the installed files copied with tar | ssh
  hf "ssh-true-$N" 20 2 "" "${SSH[*]} true"
  hf "ssh-true-x25519-$N" 20 2 "" "${SSH[*]} -o KexAlgorithms=curve25519-sha256 true"
  [ -f "$W/nodelay.so" ] && hf "ssh-true-nodelay-$N" 20 2 "" "env LD_PRELOAD=$W/nodelay.so ${SSH[*]} -o KexAlgorithms=curve25519-sha256 true"
  tar -C "$RS" -cf "$W/files.tar" etc ct
  hf "tar-ssh-$N" 20 2 "sh -c 'rm -rf $RF/*'" "sh -c '${SSH[*]} tar -xf - -C $RF < $W/files.tar'"
  same "$RS" "$RF" "tar | ssh, N=$N"
  # no-op: nothing changed since the last run (both nodes are deployed)
  hf "noop-stoa-$N" $RS_RUNS 1 "" "$SW"
  count_pct noop "$N" ""
  # the plan, with the node's live state (every file hashed, every config read), read-only
  hf "diff-stoa-$N" $RS_RUNS 1 "" "$STOA -q -C $P/stoa diff node --target ssh://root@127.0.0.1:$PORT --node-root $RS --known-hosts $W/known_hosts --identity $W/client"
  if [ "$ANSIBLE" != 0 ]; then
    hf "noop-ansible-$N" $RD_RUNS 0 "" "$AD"
    hf "noop-ansible-pipe-$N" $RA_RUNS 0 "" "$AP"
    same "$RS" "$RA" "no-op, N=$N"
  fi
  # one file changed: ct0's image tag, a new one before every run
  hf "one-stoa-$N" $RS_RUNS 1 "$BUMP" "$SW"
  count_pct one "$N" "$BUMP"
  if [ "$ANSIBLE" != 0 ]; then
    hf "one-ansible-$N" $RD_RUNS 0 "$BUMP" "$AD"
    hf "one-ansible-pipe-$N" $RA_RUNS 0 "$BUMP" "$AP"
    $SW >/dev/null 2>&1   # bring the stoa node to the last bump too
    same "$RS" "$RA" "one file changed, N=$N"
  fi
done

# --- 3. evaluation -------------------------------------------------------------
for H in $HOSTS; do
  echo "evaluation, $H hosts" >&2
  I=$W/inv$H
  $PY bench/gen_inventory.py "$H" "$I"
  $PY bench/gen_nix.py "$H" "$I/nix" "$STOA"
  # the two sides agree: host h0000's merged configuration, as JSON
  "$STOA" -q -C "$I" eval h0000 --json > "$W/stoa-h0.json"
  nix-instantiate --eval --strict --json --readonly-mode -E "let lib = import $I/nix/lib.nix; in (lib.evalModules { modules = [ (import $I/nix/core.nix) $I/nix/hosts/h0000.nix ]; }).config" > "$W/nix-h0.json"
  $PY -c 'import json, sys; a, b = (json.load(open(f)) for f in sys.argv[1:]); sys.exit(a != b)' "$W/stoa-h0.json" "$W/nix-h0.json" \
    || { echo "compare.sh: stoa and Nix disagree on h0000's configuration ($W/stoa-h0.json, $W/nix-h0.json)" >&2; trap - EXIT; exit 1; }
  echo "  verified: h0000's merged configuration is the same JSON in stoa and Nix" >&2
  case $H in 1) R=20; WU=2 ;; 100) R=10; WU=1 ;; *) R=3; WU=0 ;; esac
  [ $QUICK = 1 ] && R=3
  # cold: no eval cache (nix-instantiate has none either). The old cache is
  # moved aside, not deleted: on ext4 without a journal, creating files
  # right after deleting many scans the recently freed inodes (see
  # bench/eval-build.sh); $W and so the moved caches go at the end.
  mkdir -p "$W/trash"
  hf "check-stoa-$H" $R $WU "sh -c 'if [ -e $I/.stoa ]; then mv $I/.stoa \$(mktemp -d -p $W/trash)/; fi'" "$STOA -q -C $I check"
  hf "eval-nix-$H" $R $WU "" "nix-instantiate --eval --strict --readonly-mode $I/nix/default.nix"
done

# --- 4. report -------------------------------------------------------------------
echo "end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"
$PY bench/report.py "$OUT" "$NS" "$HOSTS" "$STOA" > "$OUT/results.md"
cat "$OUT/results.md"
