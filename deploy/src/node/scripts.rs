//! The node side of the protocol: POSIX sh run by `sh -c SCRIPT stoa-<op> ROOT ARGS…`.
//!
//! The node needs `sh`, coreutils, `tar`, and `flock`/`setsid` from util-linux (all
//! `Essential: yes` on Debian and Proxmox VE). Every script starts with [`PRELUDE`]; its
//! first argument is the root prefix (`/` in production). See `docs/node-protocol.md`
//! ("Deployer and node") for the state these scripts keep.

/// Shared definitions. `R` is the root without its trailing `/` (empty for `/`).
pub const PRELUDE: &str = r#"set -eu
R=${1%/}; shift
S="$R/var/lib/stoa"; ST="$S/store"; P="$S/profiles"; D="$S/pending"; SEC="$S/secrets"
TAB=$(printf '\t')
say() { printf 'stoa: %s\n' "$*"; }
die() { printf 'stoa: failed %s\n' "$*"; printf 'stoa: %s\n' "$*" >&2; exit 1; }
gens() {
  for f in "$P"/system-*-link; do
    [ -L "$f" ] || continue
    n=${f##*/system-}; n=${n%-link}
    case $n in ''|*[!0-9]*) continue;; esac
    echo "$n"
  done
}
current_gen() {
  t=$(readlink "$P/system" 2>/dev/null) || return 0
  n=${t#system-}; echo "${n%-link}"
}
closure_of() { t=$(readlink "$P/system-$1-link") || return 1; echo "${t##*/}"; }
flip_to() {
  if [ -z "$1" ]; then rm -f "$P/system"; return 0; fi
  ln -s "system-$1-link" "$P/.system.tmp.$$"
  mv -T "$P/.system.tmp.$$" "$P/system"
}
# With BK set (a first activation), activate saves what it replaces there (STOA_BACKUP).
# With ALLOW set (VMIDs), the activation may destroy those containers if the generation no
# longer declares them (STOA_ALLOW_DESTROY).
# With RESTORE set (a file of keys), those artifacts count as changed (STOA_RESTORE).
run_activate() { # MODE CLOSURE PREV_CLOSURE LOG [SECRETS_DIR [PREV_SECRETS_DIR]]
  if [ -n "$3" ]; then
    STOA_ROOT="${R:-/}" STOA_STORE="$ST" STOA_SECRETS="${5:-}" STOA_SECRETS_PREV="${6:-}" STOA_RESTORE="${RESTORE:-}" \
      STOA_GENERATION="${GEN:-}" STOA_SNAPSHOTS="${SNAPS:-}" STOA_CLUSTER_WRITER="${WRITER:-1}" \
      STOA_BACKUP="${BK:-}" STOA_ALLOW_DESTROY="${ALLOW:-}" "$ST/$2/activate" "$1" "$ST/$3" >"$4" 2>&1 8>&- 9>&-
  else
    STOA_ROOT="${R:-/}" STOA_STORE="$ST" STOA_SECRETS="${5:-}" STOA_SECRETS_PREV="${6:-}" STOA_RESTORE="${RESTORE:-}" \
      STOA_GENERATION="${GEN:-}" STOA_SNAPSHOTS="${SNAPS:-}" STOA_CLUSTER_WRITER="${WRITER:-1}" \
      STOA_BACKUP="${BK:-}" STOA_ALLOW_DESTROY="${ALLOW:-}" "$ST/$2/activate" "$1" >"$4" 2>&1 8>&- 9>&-
  fi
}
# secrets_dir GEN: the secrets folder of a generation (empty for none).
secrets_dir() { if [ -n "$1" ]; then echo "$SEC/$1"; fi; }
# secrets_for TO FROM ID: builds the secrets folder of generation TO from the values the
# deployer sent (staging-ID, with the complete .digests) and, for those it did not send
# because they did not change, copies from generation FROM. Run with umask 077.
secrets_for() {
  _n="$SEC/.new-$3"
  rm -rf "$_n"; mv -T "$SEC/.staging-$3" "$_n"
  while IFS="$TAB" read -r _sn _sd; do
    [ -n "$_sn" ] || continue
    [ -e "$_n/$_sn" ] && continue
    _old="$SEC/$2/$_sn"
    if [ -z "$2" ] || [ ! -f "$_old" ]; then echo "secret $_sn was neither sent nor on the node" >&2; return 1; fi
    if [ "$(awk -F "$TAB" -v n="$_sn" '$1 == n { print $2 }' "$SEC/$2/.digests")" != "$_sd" ]; then
      echo "secret $_sn on the node is not the one the deployer expects" >&2; return 1
    fi
    mkdir -p "$(dirname "$_n/$_sn")" && cp -p "$_old" "$_n/$_sn" || return 1
  done < "$_n/.digests"
  chmod 0700 "$_n" && rm -rf "${SEC:?}/${1:?}" && mv -T "$_n" "$SEC/$1"
}
step_lock() { exec 8>>"$S/lock.step"; flock 8; }
pending_is() { [ -d "$D" ] && [ "$(cat "$D/id" 2>/dev/null)" = "$1" ]; }
# Reverts the pending activation: back to `from` by activating it with `to` as PREVIOUS;
# with no `from` (a first activation), `activate undo` of what it saved in pending/backup.
revert_pending() {
  from=$(cat "$D/from"); to=$(cat "$D/to")
  WRITER=$(cat "$D/writer" 2>/dev/null || echo 1)
  flip_to "$from"
  # The containers the activation snapshotted go back to their snapshots first (their
  # disks and configs as they were), then the files converge as below.
  if [ -e "$D/started" ] && [ -f "$D/snapshots" ]; then
    while read -r sv sn sr sb; do
      [ "$sb" = 1 ] || continue
      if [ "$sr" = 1 ]; then set -- --start 1; else set --; fi
      if pct rollback "$sv" "$sn" "$@" </dev/null >>"$D/revert.log" 2>&1; then say "snapshot-rollback $sv $sn"
      else say "snapshot-rollback-failed $sv $sn"; fi
    done < "$D/snapshots"
  fi
  if [ -e "$D/started" ] && [ -n "$from" ]; then
    # The revert may destroy exactly the containers the failed activation created.
    ALLOW=$(awk '$1 == "stoa:" && $2 == "created" { print $3 }' "$D/activate.log" 2>/dev/null | tr '\n' ' ')
    if ! run_activate switch "$(closure_of "$from")" "$(closure_of "$to")" "$D/revert.log" \
      "$(secrets_dir "$from")" "$(secrets_dir "$to")"; then
      say "revert-failed $to $from"; cat "$D/revert.log"; return 1
    fi
  elif [ -e "$D/started" ] && [ -f "$D/backup/index" ]; then
    if ! STOA_ROOT="${R:-/}" STOA_STORE="$ST" "$ST/$(closure_of "$to")/activate" undo "$D/backup" \
      >"$D/revert.log" 2>&1 8>&- 9>&-; then
      say "revert-failed $to -"; cat "$D/revert.log"; return 1
    fi
    say "undone $to"
  fi
  if [ -e "$D/kind-new" ]; then : > "$P/system-$to.reverted"; fi
  : > "$D/done"
}
finish_pending() {
  [ -d "$D" ] || return 0
  if mkdir "$D/decided" 2>/dev/null; then echo "$1" > "$D/decided/by"; fi
  by=$(cat "$D/decided/by" 2>/dev/null || echo unknown)
  if [ ! -e "$D/done" ] && [ "$by" != confirm ]; then
    revert_pending || return 1
    say "reverted $(cat "$D/to") ${from:--} $by"
  fi
  t=$(cat "$D/timer.pid" 2>/dev/null || true)
  if [ -n "$t" ] && [ "$t" != "$$" ]; then kill "$t" 2>/dev/null || true; fi
  rm -rf "$D"
}
"#;

/// `session OWNER WAIT_S FORCE LIVE QUORUM PATH…`: takes the node lock (waiting up to `WAIT_S`),
/// with `QUORUM` = 1 refuses (`no-quorum`, exit 76) when `/etc/pve` cannot be written,
/// sweeps stale staging directories, resolves an interrupted activation, reports the
/// current generation and which `PATH`s are missing (a `ct:VMID` argument is a container
/// to read), with `LIVE` = 1 the live state of the current generation (`live_read`), then
/// holds the lock until stdin closes.
pub const SESSION: &str = r#"OWNER=$1; WAIT=$2; FORCE=$3; LIVE=$4; QUORUM=$5; shift 5
mkdir -p "$ST" "$P"
exec 9>>"$S/lock"
if ! flock -n 9; then
  say "busy $(head -c 300 "$S/lock" | tr '\n' ' ')"
  if [ "$WAIT" -gt 0 ] && flock -w "$WAIT" 9; then :; else exit 75; fi
fi
printf '%s\n' "$OWNER" > "$S/lock"
# A cluster member changes nothing without quorum: pmxcfs is then read-only.
if [ "$QUORUM" = 1 ]; then
  if ( : > "$R/etc/pve/.stoa-quorum.$$" ) 2>/dev/null; then rm -f "$R/etc/pve/.stoa-quorum.$$"
  else say no-quorum; exit 76; fi
fi
say locked
step_lock
for t in "$ST"/.staging-*; do
  if [ -e "$t" ]; then chmod -R u+w "$t"; rm -rf "$t"; fi
done
# What killed steps left (a record's pending.tmp.PID, an activation's
# staging in secrets/.work); the folders themselves stay as they are.
for t in "$SEC"/.staging-* "$SEC"/.new-* "$SEC"/.dry-* "$SEC"/.work/* "$D".tmp.*; do
  if [ -e "$t" ]; then rm -rf "$t"; fi
done
if ! finish_pending recover; then
  if [ "$FORCE" = 1 ]; then
    rm -rf "$D"; : > "$S/dirty"; say "discarded-pending"
  else
    die "recover: reverting an interrupted activation failed (switch with --force to discard it)"
  fi
fi
flock -u 8; exec 8>&-
cur=$(current_gen)
if [ -n "$cur" ]; then say "current $cur $(closure_of "$cur")"; else say "current - -"; fi
if [ -e "$S/dirty" ]; then say dirty
elif [ -n "$cur" ] && [ -f "$SEC/$cur/.digests" ]; then
  while IFS="$TAB" read -r n d; do [ -z "$n" ] || say "secret $n $d"; done < "$SEC/$cur/.digests"
fi
vms=''
for p in "$@"; do
  case $p in
    ct:*) vms="$vms ${p#ct:}" ;;
    *) [ -e "$ST/$p" ] || say "missing $p" ;;
  esac
done
# shellcheck disable=SC2086 # VMIDs, one word each
if [ "$LIVE" = 1 ]; then live_read "$(if [ -n "$cur" ]; then closure_of "$cur"; fi)" $vms; fi
say ready
cat >/dev/null
"#;

/// `receive ID PATH…` with a tar on stdin: unpacks into `.staging-ID`, checks
/// `SHA256SUMS`, moves the `PATH`s the store lacks into it (each by one rename) and makes
/// them read-only: a constant number of processes, however many paths. (The session holds
/// the node lock, so no path appears in the store meanwhile; one already there stays as it
/// is, and its copy goes with the staging folder.)
pub const RECEIVE: &str = r#"ID=$1; shift
T="$ST/.staging-$ID"
rm -rf "$T"; mkdir -p "$T"
tar -x --no-same-owner -f - -C "$T"
if ! (cd "$T" && sha256sum --quiet --strict -c SHA256SUMS >&2); then
  chmod -R u+w "$T"; rm -rf "$T"; die "transfer: sha256 mismatch"
fi
n=$#
for p in "$@"; do
  shift
  case $p in ''|.*|*/*) die "transfer: bad store path name $p";; esac
  [ -e "$T/$p" ] || die "transfer: $p missing from the archive"
  [ -e "$ST/$p" ] || set -- "$@" "$p"
done
if [ $# -gt 0 ]; then
  cd "$T"; mv -t "$ST" -- "$@"
  cd "$ST"; chmod -R a-w -- "$@"; cd /
fi
chmod -R u+w "$T"; rm -rf "$T"
say "received $n"
"#;

/// `secrets ID` with a tar on stdin: the secret values that changed (one file per name,
/// paths are names) and `.digests`, the keyed digest of every secret the new closure
/// needs, into `secrets/.staging-ID` (0700, files 0600). Prints how many values came.
pub const SECRETS: &str = r#"ID=$1
umask 077
mkdir -p "$SEC"; chmod 0700 "$SEC"
T="$SEC/.staging-$ID"
rm -rf "$T"; mkdir "$T"
tar -x --no-same-owner --no-same-permissions -f - -C "$T"
[ -f "$T/.digests" ] || { rm -rf "$T"; die "secrets: the archive has no .digests"; }
find "$T" -type d -exec chmod 0700 {} +
find "$T" -type f -exec chmod 0600 {} +
say "secrets-received $(($(find "$T" -type f | wc -l) - 1))"
"#;

/// `record ID new CLOSURE PROVENANCE` or `record ID existing N -`: writes the pending
/// activation (from = current generation) and, for `new`, generation max+1 with its
/// provenance, and its secrets folder when the deployer sent secrets (`secrets ID`).
pub const RECORD: &str = r#"ID=$1; KIND=$2; ARG=$3; PROV=$4
step_lock
[ ! -d "$D" ] || die "record: an activation is already pending"
from=$(current_gen)
if [ "$KIND" = new ]; then
  [ -d "$ST/$ARG" ] || die "record: closure $ARG is not in the node store"
  max=0
  for n in $(gens); do if [ "$n" -gt "$max" ]; then max=$n; fi; done
  to=$((max + 1))
else
  to=$ARG
  [ -L "$P/system-$to-link" ] || die "record: no generation $to"
fi
if [ "$KIND" = new ] && [ -d "$SEC/.staging-$ID" ]; then
  ( umask 077 && secrets_for "$to" "$from" "$ID" ) || die "record: the secrets of generation $to are incomplete"
fi
mkdir "$D.tmp.$$"
echo "$ID" > "$D.tmp.$$/id"; echo "$from" > "$D.tmp.$$/from"; echo "$to" > "$D.tmp.$$/to"
if [ "$KIND" = new ]; then : > "$D.tmp.$$/kind-new"; fi
mv -T "$D.tmp.$$" "$D"
if [ "$KIND" = new ]; then
  printf '%s\n' "$PROV" > "$P/.prov.tmp.$$"; mv -f "$P/.prov.tmp.$$" "$P/system-$to.json"
  ln -s "../store/$ARG" "$P/.link.tmp.$$"; mv -T "$P/.link.tmp.$$" "$P/system-$to-link"
fi
say "recorded $to ${from:--}"
"#;

/// `arm ID SECONDS TIMER_SCRIPT`: starts the detached dead-man timer.
pub const ARM: &str = r#"ID=$1; SECS=$2; TIMER=$3
pending_is "$ID" || die "arm: no pending activation $ID"
setsid sh -c "$TIMER" stoa-timer "${R:-/}" "$ID" "$SECS" </dev/null >>"$S/timer.log" 2>&1 8>&- 9>&- &
echo "$!" > "$D/timer.pid"
say "armed $SECS"
"#;

/// The dead-man timer itself (`stoa-timer ROOT ID SECONDS`): unless someone decides first,
/// it decides `timer` and reverts the pending activation.
pub const TIMER: &str = r#"ID=$1; SECS=$2; i=0
while [ "$i" -lt "$SECS" ]; do
  sleep 1; i=$((i + 1))
  pending_is "$ID" || exit 0
  if [ -e "$D/decided" ]; then exit 0; fi
done
mkdir "$D/decided" 2>/dev/null || exit 0
echo timer > "$D/decided/by"
step_lock
pending_is "$ID" || exit 0
finish_pending timer
"#;

/// `flip ID`: points `system` at the pending generation.
pub const FLIP: &str = r#"ID=$1
step_lock
pending_is "$ID" || die "flip: no pending activation $ID"
to=$(cat "$D/to"); flip_to "$to"
say "flipped $to"
"#;

/// `activate ID WRITER [VMID…]` with the keys to restore on stdin (one per line): runs the
/// pending generation's `activate switch PREVIOUS`, prints its log. `WRITER` = 0: another
/// member of the cluster writes the cluster's files (`STOA_CLUSTER_WRITER`).
pub const ACTIVATE: &str = r#"ID=$1; WRITER=$2; shift 2
ALLOW="$*"
step_lock
pending_is "$ID" || die "activate: no pending activation $ID"
RESTORE="$D/restore"; cat > "$RESTORE"
GEN=$(cat "$D/to"); SNAPS="$D/snapshots"; echo "$WRITER" > "$D/writer"
trap '' HUP PIPE
from=$(cat "$D/from"); to=$(cat "$D/to")
new=$(closure_of "$to"); prev=""
if [ -n "$from" ] && [ ! -e "$S/dirty" ]; then prev=$(closure_of "$from"); fi
# A first activation saves what it replaces, for `revert_pending` to put back.
BK=""; if [ -z "$from" ]; then BK="$D/backup"; fi
: > "$D/started"
sp=""; if [ -n "$prev" ]; then sp=$(secrets_dir "$from"); fi
if run_activate switch "$new" "$prev" "$D/activate.log" "$(secrets_dir "$to")" "$sp"; then rc=0; else rc=$?; fi
if [ "$rc" = 0 ]; then rm -f "$S/dirty"; fi
cat "$D/activate.log"
exit "$rc"
"#;

/// `dry CLOSURE digests|- [KEY…]`: `activate dry` against the current generation; changes
/// nothing. With `digests`, stdin is the `.digests` of the secrets the closure would have
/// (no values), so that `activate dry` sees which secrets changed; the `KEY`s are to be
/// restored (drifted).
pub const DRY: &str = r#"NEW=$1; DG=$2; shift 2
RESTORE="$S/dry.restore"; printf '%s\n' "$@" > "$RESTORE"
cur=$(current_gen); prev=""; sp=""; dd=""
if [ -n "$cur" ] && [ ! -e "$S/dirty" ]; then prev=$(closure_of "$cur"); sp=$(secrets_dir "$cur"); fi
if [ "$DG" = digests ]; then
  dd="$SEC/.dry-$$"; mkdir -p "$dd"; cat > "$dd/.digests"
fi
if run_activate dry "$NEW" "$prev" "$S/dry.log" "$dd" "$sp"; then rc=0; else rc=$?; fi
if [ -n "$dd" ]; then rm -rf "$dd"; fi
cat "$S/dry.log"; rm -f "$S/dry.log" "$RESTORE"
exit "$rc"
"#;

/// `confirm ID`: the deployer's decision that the activation stays (over a new connection).
pub const CONFIRM: &str = r#"ID=$1
step_lock
pending_is "$ID" || { say "too-late gone"; exit 3; }
if mkdir "$D/decided" 2>/dev/null; then
  echo confirm > "$D/decided/by"
else
  say "too-late $(cat "$D/decided/by" 2>/dev/null || echo unknown)"; exit 3
fi
t=$(cat "$D/timer.pid" 2>/dev/null || true)
if [ -n "$t" ]; then kill "$t" 2>/dev/null || true; fi
rm -rf "$D"
say confirmed
"#;

/// `revert ID`: the deployer's decision to return to the previous generation.
pub const REVERT: &str = r#"ID=$1
step_lock
pending_is "$ID" || { say "nothing-pending"; exit 0; }
finish_pending deployer
"#;

/// `list`: every generation with its closure, flags and provenance.
pub const LIST: &str = r#"cur=$(current_gen)
say "current ${cur:--}"
for n in $(gens | sort -n); do
  c=$(closure_of "$n" || echo -); f=-
  if [ -e "$P/system-$n.reverted" ]; then f=reverted; fi
  say "gen $n $c $f"
  if [ -e "$P/system-$n.json" ]; then printf 'stoa: prov %s ' "$n"; head -n 1 "$P/system-$n.json"; fi
done
if [ -d "$D" ]; then say "pending $(cat "$D/to" 2>/dev/null || echo -)"; fi
"#;

/// `show`: the current generation, the keyed digests of its secrets, its `artifacts.tsv`.
pub const SHOW: &str = r#"# What the plan needs of the node, for each argument: `ct:VMID` ->
# the container's live state (`live_read`, with the current generation's);
# `tmpl:VOLID` -> `template VOLID present|absent|unknown` (a template of a
# dir storage in storage.cfg; unknown: another storage type).
vms=''
for a in "$@"; do
  case $a in
    ct:*) vms="$vms ${a#ct:}" ;;
    tmpl:*:vztmpl/*)
      t=${a#tmpl:}; s=${t%%:*}; f=${t#*:vztmpl/}
      p=$(awk -v s="$s" '/^[a-z0-9]+: / { here = ($1 == "dir:" && $2 == s); next } here && $1 == "path" { print $2; exit }' \
        "$R/etc/pve/storage.cfg" 2>/dev/null) || p=''
      if [ -z "$p" ]; then say "template $t unknown"
      elif [ -f "$R$p/template/cache/$f" ]; then say "template $t present"
      else say "template $t absent"; fi ;;
    tmpl:*) say "template ${a#tmpl:} unknown" ;;
  esac
done
cur=$(current_gen); c=''
if [ -n "$cur" ]; then c=$(closure_of "$cur"); fi
# shellcheck disable=SC2086 # VMIDs, one word each
live_read "$c" $vms
awk '/^[a-z0-9]+: / { t = $1; sub(/:$/, "", t); print "stoa: storage " $2 " " t }' "$R/etc/pve/storage.cfg" 2>/dev/null || true
if [ -d "$D" ]; then say "pending $(cat "$D/to" 2>/dev/null || echo -)"; fi
if [ -e "$S/dirty" ]; then say dirty; fi
# Whether the node wants a reboot: Debian's flag file, or a newer kernel installed than the
# one running (`kernel RUNNING NEWEST`).
if [ -e "$R/run/reboot-required" ]; then say reboot-required; fi
kr=$(cat "$R/proc/sys/kernel/osrelease" 2>/dev/null || uname -r)
kn=$(for k in "$R"/boot/vmlinuz-*; do [ -e "$k" ] && echo "${k##*/vmlinuz-}"; done | sort -V | tail -n 1)
say "kernel $kr ${kn:--}"
# A GPU node: its driver's version, and the NVIDIA library version in each running container
# (the `libnvidia-ml.so.<version>` of its file system; they must match after a driver update).
if [ -r "$R/proc/driver/nvidia/version" ]; then
  hv=$(sed -n 's/.*Kernel Module[[:space:]]*\([0-9][0-9.]*\).*/\1/p' "$R/proc/driver/nvidia/version" | head -n 1)
  say "nvidia-host ${hv:--}"
  for d in "$R"/sys/fs/cgroup/lxc/*/; do
    [ -d "$d" ] || continue
    v=${d%/}; v=${v##*/}
    case $v in '' | *[!0-9]*) continue ;; esac
    pid=''
    for cp in "${d}ns/init.scope/cgroup.procs" "${d}ns/cgroup.procs"; do
      if [ -r "$cp" ] && read -r pid <"$cp" && [ -n "$pid" ]; then break; fi
      pid=''
    done
    [ -n "$pid" ] || continue
    for lib in "$R/proc/$pid/root/usr/lib/x86_64-linux-gnu"/libnvidia-ml.so.*.*; do
      [ -e "$lib" ] || continue
      say "nvidia-ct $v ${lib##*/libnvidia-ml.so.}"
      break
    done
  done
fi
if [ -z "$cur" ]; then say "current - -"; exit 0; fi
say "current $cur $c"
if [ -f "$SEC/$cur/.digests" ]; then
  while IFS="$TAB" read -r n d; do [ -z "$n" ] || say "secret $n $d"; done < "$SEC/$cur/.digests"
fi
cat "$ST/$c/artifacts.tsv"
"#;

/// `live CLOSURE [CURRENT]`: the live state of what a closure of the store places
/// (`live_read`), and with CURRENT its store path per key (`cur KEY SP`).
pub const LIVE: &str = r#"for c in "$@"; do
  case $c in ''|.*|*/*) die "live: bad closure name";; esac
  [ -f "$ST/$c/artifacts.tsv" ] || die "live: closure $c is not in the node store"
done
live_read "$1"
if [ -n "${2:-}" ]; then awk -F "$TAB" '{ print "stoa: cur\t" $1 "\t" $2 }' "$ST/$2/artifacts.tsv"; fi
"#;

/// `cat PATH`: one store file or `CLOSURE/file`.
pub const CAT: &str = r#"case $1 in */../*|../*|*/..) die "cat: bad path";; esac
cat "$ST/$1"
"#;

/// `conf VMID`: container VMID's config as the node has it (`/etc/pve/lxc/VMID.conf`), at
/// most 1 MiB and one byte, so that the deployer can refuse a larger one. Read-only; takes
/// no lock. A VMID that is not digits, or a container without a config, fails.
pub const CONF: &str = r#"case $1 in ''|*[!0-9]*) die "conf: bad vmid";; esac
f="$R/etc/pve/lxc/$1.conf"
[ -f "$f" ] || die "conf: no config for container $1"
head -c 1048577 "$f"
"#;

/// `gc KEEP` (inside a session): deletes generations beyond the newest `KEEP` (never the
/// current one) with their secrets folders, then every store path no remaining generation
/// uses.
pub const GC: &str = r#"KEEP=$1
step_lock
cur=$(current_gen); i=0
for n in $(gens | sort -rn); do
  i=$((i + 1))
  if [ "$i" -gt "$KEEP" ] && [ "$n" != "$cur" ]; then
    rm -f "$P/system-$n-link" "$P/system-$n.json" "$P/system-$n.reverted"
    rm -rf "${SEC:?}/${n:?}"
    say "dropped $n"
  fi
done
for t in "$SEC"/*; do
  g=${t##*/}
  case $g in ''|*[!0-9]*) continue;; esac
  [ -L "$P/system-$g-link" ] || rm -rf "$t"
done
live=" "
for n in $(gens); do
  c=$(closure_of "$n") || continue
  live="$live$c "
  if [ -f "$ST/$c/artifacts.tsv" ]; then
    while IFS="$TAB" read -r _key path _sum; do live="$live$path "; done < "$ST/$c/artifacts.tsv"
  fi
done
for e in "$ST"/*; do
  [ -e "$e" ] || continue
  name=${e##*/}
  case $live in *" $name "*) ;; *) chmod -R u+w "$e"; rm -rf "$e"; say "deleted $name";; esac
done
"#;

/// `health SECONDS ARGV…`: runs a check until it succeeds or `SECONDS` pass.
pub const HEALTH: &str = r#"SECS=$1; shift
start=$(date +%s)
while :; do
  # A check that ignores SIGTERM is killed 5 s later. It sees the node's
  # root as the activation does (STOA_ROOT).
  if STOA_ROOT="${R:-/}" timeout -k 5 "$SECS" "$@"; then exit 0; fi
  now=$(date +%s)
  if [ $((now - start)) -ge "$SECS" ]; then exit 1; fi
  sleep 1
done
"#;
