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
NL='
'
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
      STOA_BACKUP="${BK:-}" STOA_ALLOW_DESTROY="${ALLOW:-}" "$ST/$2/activate" "$1" "$ST/$3" >"$4" 2>&1 8>&- 9>&-
  else
    STOA_ROOT="${R:-/}" STOA_STORE="$ST" STOA_SECRETS="${5:-}" STOA_SECRETS_PREV="${6:-}" STOA_RESTORE="${RESTORE:-}" \
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
# live_read CLOSURE [VMID...]: the node's live state of everything CLOSURE's artifacts.tsv
# placed, and of the containers VMID... (docs/node-protocol.md, "Live state"). Tab-separated:
# `live KEY SP SHA file SHA MODE OWNER GROUP|missing|other WHAT|unknown WHY|config VMID`
# (SP and SHA: the artifact there, from artifacts.tsv), `ct VMID
# running|stopped|absent` with `conf VMID LINE` per config line, `body KEY BASE64` for a
# file that differs from the closure's (at most 64 KiB) and for every section-config file,
# `filled KEY SHA` for each file activation filled from secrets (what it installed),
# `unmanaged VMID` for each container of the node that the generation does not declare.
# A constant number of processes; a running container's files are read through
# /proc/PID/root of a process of its cgroup (lxc-info, Proxmox's own find_lxc_pid, only
# where the cgroup does not say); no pct.
live_read() {
  _lc=$1; shift
  _lt=$(mktemp -d "${TMPDIR:-/tmp}/stoa-live.XXXXXX") || return 0
  : >"$_lt/reg"; _lv=" $* "; _lpid=" "
  if [ -n "$_lc" ] && [ -f "$ST/$_lc/artifacts.tsv" ]; then
    # One awk turns the artifacts into calls (every word quoted), which run as builtins:
    # a shell `read` loop would read the file a byte at a time.
    _lcalls=$(awk -F "$TAB" -v sq="'" '
      function q(s,   n, p, i, o) { n = split(s, p, sq); o = p[1]; for (i = 2; i <= n; i++) o = o sq "\\" sq sq p[i]; return sq o sq }
      { a = q($1) " " q($2) " " q($3) }
      $4 == "host-file" { print "live_at " a " \"$R\"" q($5) " 0" }
      $4 == "sections" { print "live_at " a " \"$R\"" q($5) " 1" }
      $4 == "network" { print "live_at " a " \"$R\"/etc/network/interfaces 0" }
      $4 == "ct-config" { print "live_cfg " a " " q($5) }
      $4 == "ct-file" { print "live_ct " a " " q($5) " " q($6) }
      $4 == "compose" { print "live_ct " a " " q($5) " " q($7) }' "$ST/$_lc/artifacts.tsv") || _lcalls=''
    eval "$_lcalls"
  fi
  if [ -s "$_lt/reg" ]; then
    cut -f4 "$_lt/reg" >"$_lt/paths"
    xargs -d '\n' sha256sum -- <"$_lt/paths" >"$_lt/sums" 2>/dev/null || true
    xargs -d '\n' stat -c '%a %U %G %n' -- <"$_lt/paths" >"$_lt/modes" 2>/dev/null || true
    awk -F "$TAB" -v sums="$_lt/sums" -v modes="$_lt/modes" -v send="$_lt/send" -v filled="$S/filled.tsv" '
      BEGIN {
        while ((getline l < filled) > 0) { split(l, w, "\t"); secret[w[1]] = 1 }
        while ((getline l < sums) > 0) {
          e = 0; if (substr(l, 1, 1) == "\\") { l = substr(l, 2); e = 1 }
          n = substr(l, 67); if (e) gsub(/\\\\/, "\\", n); h[n] = substr(l, 1, 64)
        }
        while ((getline l < modes) > 0) {
          split(l, w, " "); n = l; for (i = 1; i <= 3; i++) n = substr(n, index(n, " ") + 1)
          m[n] = w[1] "\t" w[2] "\t" w[3]
        }
      }
      {
        if (!($4 in h) || !($4 in m)) { print "stoa: live\t" $1 "\t" $2 "\t" $3 "\tother\tunreadable"; next }
        print "stoa: live\t" $1 "\t" $2 "\t" $3 "\tfile\t" h[$4] "\t" m[$4]
        if (!($1 in secret) && ($5 == 1 || h[$4] != $3)) print $1 "\t" $4 > send
      }' "$_lt/reg"
    if [ -f "$_lt/send" ]; then
      while IFS="$TAB" read -r _k _p; do
        [ "$(stat -c %s -- "$_p" 2>/dev/null || echo 99999999)" -le 65536 ] || continue
        printf 'stoa: body\t%s\t%s\n' "$_k" "$(base64 -w0 <"$_p" 2>/dev/null)"
      done <"$_lt/send"
    fi
  fi
  # The configs, read in their folder (on pmxcfs every path component is a lookup): one
  # listing says which exist, one awk reads them all.
  if [ -n "${_lv# }" ] || [ -d "$R/etc/pve/lxc/" ]; then
    _lhere=$PWD; _lhave=" "
    if cd "$R/etc/pve/lxc/" 2>/dev/null; then
      for _f in *.conf; do
        case $_f in '*.conf') [ -e "$_f" ] || break ;; esac
        _lhave="$_lhave${_f%.conf} "
      done
    fi
    _lconfs=''
    for _v in $_lv; do
      case $_v in '' | *[!0-9]*) continue ;; esac
      case $_lhave in *" $_v "*) ;; *) printf 'stoa: ct\t%s\tabsent\n' "$_v"; continue ;; esac
      if [ -d "$R/sys/fs/cgroup/lxc/$_v" ]; then _st=running; else _st=stopped; fi
      printf 'stoa: ct\t%s\t%s\n' "$_v" "$_st"
      _lconfs="$_lconfs$_v.conf$NL"
    done
    # Containers of this node that the generation does not declare (made by hand, or
    # dropped from the sources and kept): not stoa's.
    for _v in $_lhave; do
      case $_lv in *" $_v "*) ;; *) printf 'stoa: unmanaged\t%s\n' "$_v" ;; esac
    done
    if [ -n "$_lconfs" ]; then
      printf '%s' "$_lconfs" | xargs -d '\n' awk 'FNR == 1 { v = FILENAME; sub(/\.conf$/, "", v) }
        FNR <= 5000 { print "stoa: conf\t" v "\t" $0 }' 2>/dev/null || true
    fi
    cd "$_lhere" || return 0
  fi
  rm -rf "$_lt"
  # What activation installed at each filled key (its template is in the store, not its bytes).
  if [ -f "$S/filled.tsv" ]; then sed 's/^/stoa: filled\t/' "$S/filled.tsv"; fi
}
# live_cfg KEY SP SHA VMID: a container's config (its state follows, with the others').
live_cfg() {
  printf 'stoa: live\t%s\t%s\t%s\tconfig\t%s\n' "$1" "$2" "$3" "$4"
  case $_lv in *" $4 "*) ;; *) _lv="$_lv$4 " ;; esac
}
# live_at KEY SP SHA PATH SECTIONS: a regular file is queued for hashing, anything else said.
live_at() {
  if [ -L "$4" ]; then printf 'stoa: live\t%s\t%s\t%s\tother\tlink\n' "$1" "$2" "$3"
  elif [ -f "$4" ]; then printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$_lt/reg"
  elif [ -d "$4" ]; then printf 'stoa: live\t%s\t%s\t%s\tother\tdirectory\n' "$1" "$2" "$3"
  elif [ -e "$4" ]; then printf 'stoa: live\t%s\t%s\t%s\tother\tspecial\n' "$1" "$2" "$3"
  else printf 'stoa: live\t%s\t%s\t%s\tmissing\n' "$1" "$2" "$3"; fi
}
# live_ct KEY SP SHA VMID PATH: a container's file, through the root of its init process; a
# link on the way is not followed (it would resolve on the node, outside the container).
live_ct() {
  if [ ! -d "$R/sys/fs/cgroup/lxc/$4" ]; then
    printf 'stoa: live\t%s\t%s\t%s\tunknown\tcontainer %s is stopped\n' "$1" "$2" "$3" "$4"; return 0
  fi
  case $_lpid in
    *" $4="*) _pid=${_lpid#*" $4="}; _pid=${_pid%% *} ;;
    *) _pid=''
       # A process of the container's own cgroup (Proxmox's layout: lxc/VMID/ns, systemd's
       # init in ns/init.scope) shares its root; read without a process. Else lxc-info.
       for _cp in "$R/sys/fs/cgroup/lxc/$4/ns/init.scope/cgroup.procs" "$R/sys/fs/cgroup/lxc/$4/ns/cgroup.procs"; do
         if [ -r "$_cp" ] && read -r _pid <"$_cp" && [ -n "$_pid" ]; then break; fi
         _pid=''
       done
       if [ -z "$_pid" ]; then
         _pid=$(lxc-info -n "$4" -p 2>/dev/null) || _pid=''
         _pid=${_pid##*[!0-9]}
       fi
       _lpid="$_lpid$4=$_pid " ;;
  esac
  case $_pid in
    '' | *[!0-9]*) printf 'stoa: live\t%s\t%s\t%s\tunknown\tno init process of container %s\n' "$1" "$2" "$3" "$4"; return 0 ;;
  esac
  _at="$R/proc/$_pid/root"; _rest=${5#/}
  while :; do
    case $_rest in
      */*) _at="$_at/${_rest%%/*}"; _rest=${_rest#*/}
        if [ -L "$_at" ]; then printf 'stoa: live\t%s\t%s\t%s\tother\tlink\n' "$1" "$2" "$3"; return 0; fi ;;
      *) break ;;
    esac
  done
  live_at "$1" "$2" "$3" "$_at/$_rest" 0
}
pending_is() { [ -d "$D" ] && [ "$(cat "$D/id" 2>/dev/null)" = "$1" ]; }
# Reverts the pending activation: back to `from` by activating it with `to` as PREVIOUS;
# with no `from` (a first activation), `activate undo` of what it saved in pending/backup.
revert_pending() {
  from=$(cat "$D/from"); to=$(cat "$D/to")
  flip_to "$from"
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

/// `session OWNER WAIT_S FORCE LIVE PATH…`: takes the node lock (waiting up to `WAIT_S`),
/// sweeps stale staging directories, resolves an interrupted activation, reports the
/// current generation and which `PATH`s are missing (a `ct:VMID` argument is a container
/// to read), with `LIVE` = 1 the live state of the current generation (`live_read`), then
/// holds the lock until stdin closes.
pub const SESSION: &str = r#"OWNER=$1; WAIT=$2; FORCE=$3; LIVE=$4; shift 4
mkdir -p "$ST" "$P"
exec 9>>"$S/lock"
if ! flock -n 9; then
  say "busy $(head -c 300 "$S/lock" | tr '\n' ' ')"
  if [ "$WAIT" -gt 0 ] && flock -w "$WAIT" 9; then :; else exit 75; fi
fi
printf '%s\n' "$OWNER" > "$S/lock"
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

/// `activate ID [VMID…]` with the keys to restore on stdin (one per line): runs the pending
/// generation's `activate switch PREVIOUS`, prints its log.
pub const ACTIVATE: &str = r#"ID=$1; shift
ALLOW="$*"
step_lock
pending_is "$ID" || die "activate: no pending activation $ID"
RESTORE="$D/restore"; cat > "$RESTORE"
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
if [ -d "$D" ]; then say "pending $(cat "$D/to" 2>/dev/null || echo -)"; fi
if [ -e "$S/dirty" ]; then say dirty; fi
if [ -z "$cur" ]; then say "current - -"; exit 0; fi
say "current $cur $c"
if [ -f "$SEC/$cur/.digests" ]; then
  while IFS="$TAB" read -r n d; do [ -z "$n" ] || say "secret $n $d"; done < "$SEC/$cur/.digests"
fi
cat "$ST/$c/artifacts.tsv"
"#;

/// `live CLOSURE`: the live state of what a closure of the store places (`live_read`).
pub const LIVE: &str = r#"case $1 in ''|.*|*/*) die "live: bad closure name";; esac
[ -f "$ST/$1/artifacts.tsv" ] || die "live: closure $1 is not in the node store"
live_read "$1"
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
/// `stoa exec`: `SECS CT ARGV…` runs ARGV on the node, or with a VMID as CT inside that
/// container through `pct exec CT -- ARGV…`, with `STOA_ROOT` as health checks have it;
/// with SECS > 0 under `timeout -k 5 SECS` (the deployer gives up a second earlier). A
/// container that does not exist or is stopped is refused before anything runs (Proxmox's
/// own check, `pct exec` refuses a stopped one). Everything before the line `stoa: exec` is
/// the script's (`stoa: refused WHY`); everything after it, and all of stderr, the command's.
pub const EXEC: &str = r#"SECS=$1; CT=$2; shift 2
if [ -n "$CT" ]; then
  case $CT in *[!0-9]*) say "refused bad vmid"; exit 1 ;; esac
  [ -f "$R/etc/pve/lxc/$CT.conf" ] || { say "refused container $CT does not exist on the node"; exit 1; }
  [ -d "$R/sys/fs/cgroup/lxc/$CT" ] || { say "refused container '$CT' not running!"; exit 1; }
  set -- pct exec "$CT" -- "$@"
fi
say exec
STOA_ROOT="${R:-/}"; export STOA_ROOT
if [ "$SECS" -gt 0 ]; then exec timeout -k 5 "$SECS" "$@"; fi
exec "$@"
"#;
