# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- Container configs -------------------------------------------------------
# A container's config belongs to Proxmox as much as to stoa. stoa owns the
# keys its generation renders (lxc-<vmid>.conf, "want") and, through the
# previous generation's file ("was"), the keys it owned before; everything
# else in the file (lock, parent, snapshot sections, pending changes stoa did
# not cause, unused<N>, undeclared arch/ostype) stays as Proxmox left it.
# Keys change through `pct set`, so Proxmox decides what is live, written or
# pending; disks grow with `pct resize`; the description and raw `lxc.*`
# lines (which `pct set` cannot write) are edited in place under the config
# lock. Afterwards the file is read back: the owned keys must be the
# generation's, and pending ones are applied by a reboot of a running
# container.
#
# A root disk or mount point in `want` may be `<storage>:<GiB>` (allocated by
# Proxmox, which names the volume): compared by storage, options and size.
#
# CT_PLAN (m=plan) prints what to do, tab-separated: `set KEY VALUE`,
# `delete KEY`, `resize DISK SIZE`, `raw`, `desc`, `fail WHY`; (m=verify)
# `differ KEY LIVE` for owned keys that are not as wanted and `pending KEY`
# for owned keys Proxmox left pending. Files: L (live), D (want), P (was).
CT_PLAN='
function kv(line,   i) { i = index(line, ": "); if (i == 0) { K = line; V = ""; return } K = substr(line, 1, i - 1); V = substr(line, i + 2) }
function mib(s,   n, u) {
  n = s + 0; u = substr(s, length(s), 1)
  if (u == "T") return n * 1048576
  if (u == "G") return n * 1024
  if (u == "M") return n
  if (u == "K") return n / 1024
  return n / 1048576
}
# Splits a disk value: VOL, OPTS (without size), SIZE (MiB, -1: none), ALLOC.
function disk(v,   n, a, i) {
  n = split(v, a, ","); VOL = a[1]; OPTS = ""; SIZE = -1; ALLOC = 0
  if (VOL ~ /^[^:\/]+:[0-9]+$/) { ALLOC = 1; SIZE = mib(substr(VOL, index(VOL, ":") + 1) "G") }
  for (i = 2; i <= n; i++) {
    if (a[i] ~ /^size=/) { if (!ALLOC) SIZE = mib(substr(a[i], 6)) } else OPTS = OPTS "," a[i]
  }
}
function out(a, b, c) { if (c == "") print a "\t" b; else print a "\t" b "\t" c }
function fail(why) { print "fail\t" why; failed = 1 }
function gb(m) { return (m % 1024 == 0) ? (m / 1024) "G" : m "M" }
function check_disk(k, d, has, e,   dv, dop, ds, da, st, lst) {
  disk(d); dv = VOL; dop = OPTS; ds = SIZE; da = ALLOC
  if (!has) {
    if (k == "rootfs") fail("it has no rootfs")
    else if (m == "plan") out("set", k, d)
    else out("differ", k, "(none)")
    return
  }
  disk(e)
  if (da) {
    st = substr(dv, 1, index(dv, ":") - 1); lst = substr(VOL, 1, index(VOL, ":") - 1)
    if (st != lst) { fail(k " is on storage " lst " on the node and on " st " in the sources: stoa does not move volumes (pct move-volume)"); return }
  } else if (dv != VOL) {
    if (k == "rootfs") { fail("its rootfs is " VOL " on the node and " dv " in the sources: stoa does not replace a root disk"); return }
    if (m == "plan") out("set", k, d); else out("differ", k, e)
    return
  }
  if (dop != OPTS) {
    if (m == "plan") out("set", k, VOL dop (SIZE >= 0 ? ",size=" gb(SIZE) : ""))
    else out("differ", k, e)
  }
  if (ds >= 0 && SIZE >= 0 && ds != SIZE) {
    if (ds < SIZE) {
      if (!undo) fail(k " is " gb(SIZE) " on the node and " gb(ds) " in the sources: a disk cannot shrink")
    } else if (m == "plan") out("resize", k, gb(ds))
    else out("differ", k, e)
  }
}
FILENAME == L && /^\[/ { ls = ($0 == "[pve:pending]") ? "p" : "s"; next }
FILENAME == L && ls == "s" { next }
FILENAME == L && ls == "p" {
  if (index($0, "delete: ") == 1) { n = split(substr($0, 9), a, ","); for (i = 1; i <= n; i++) pdel[a[i]] = 1 }
  else if ($0 != "" && $0 !~ /^#/) { kv($0); pend[K] = V }
  next
}
FILENAME == L {
  if ($0 ~ /^#/) { ldesc = ldesc $0 "\n"; next }
  if ($0 == "") next
  kv($0)
  if (K ~ /^lxc\./) { lraw[++nlr] = $0; next }
  cur[K] = V; next
}
FILENAME == D {
  if ($0 ~ /^#/) { ddesc = ddesc $0 "\n"; owndesc = 1; next }
  if ($0 == "") next
  kv($0)
  if (K ~ /^lxc\./) { draw[++ndr] = $0; dr[$0] = 1; next }
  want[K] = V; next
}
FILENAME == P {
  if ($0 ~ /^#/) { owndesc = 1; next }
  if ($0 == "") next
  kv($0)
  if (K ~ /^lxc\./) { pr[$0] = 1; next }
  had[K] = V; next
}
END {
  for (k in want) {
    d = want[k]
    if (k in pend) { has = 1; e = pend[k] } else if ((k in pdel) || !(k in cur)) { has = 0; e = "" } else { has = 1; e = cur[k] }
    if (m == "verify" && ((k in pend) || (k in pdel))) out("pending", k)
    if (k == "unprivileged") {
      if ((has ? e : "0") != d) fail("unprivileged is " (has ? e : "0") " on the node and " d " in the sources; it cannot change (the container would have to be made anew, from a backup)")
      continue
    }
    if (k == "rootfs" || k ~ /^mp[0-9]+$/) { check_disk(k, d, has, e); continue }
    if (!has || e != d) { if (m == "plan") out("set", k, d); else out("differ", k, has ? e : "(none)") }
  }
  for (k in had) {
    if (k in want) continue
    has = (k in pend) || ((k in cur) && !(k in pdel))
    if (m == "verify" && (k in pdel)) out("pending", k)
    if (!has) continue
    if (k == "unprivileged") { if (e != "0") fail("unprivileged is set on the node and no longer in the sources; it cannot change"); continue }
    if (m == "plan") out("delete", k); else out("differ", k, (k in pend) ? pend[k] : cur[k])
  }
  kept = ""; for (i = 1; i <= nlr; i++) { old = old lraw[i] "\n"; if (!(lraw[i] in pr) && !(lraw[i] in dr)) kept = kept lraw[i] "\n" }
  for (i = 1; i <= ndr; i++) kept = kept draw[i] "\n"
  if (kept != old) { if (m == "plan") print "raw"; else out("differ", "raw lxc keys") }
  if (owndesc && ddesc != ldesc) { if (m == "plan") print "desc"; else out("differ", "description") }
}'
# CT_EDIT: the live file L with its description (when stoa owns one) and its
# owned raw lines replaced by those of D; every other line byte for byte.
# Files in the order D, P, L.
CT_EDIT='
function key(line) { return substr(line, 1, index(line, ": ") - 1) }
FILENAME == D { if ($0 ~ /^#/) { desc = desc $0 "\n"; own = 1 } else if (key($0) ~ /^lxc\./) { raw = raw $0 "\n"; mine[$0] = 1 }; next }
FILENAME == P { if ($0 ~ /^#/) own = 1; else if (key($0) ~ /^lxc\./) mine[$0] = 1; next }
FNR == 1 && own { printf "%s", desc }
done { print; next }
/^\[/ || $0 == "" { printf "%s", raw; done = 1; print; next }
/^#/ { if (!own) print; next }
key($0) ~ /^lxc\./ && ($0 in mine) { next }
{ print }
END { if (!done) printf "%s", raw }'
# RESTRICT: the lines of the current section of L (a saved config) for the
# keys D has, its description and its raw lines (what `undo` puts back).
CT_RESTRICT='
function key(line) { return substr(line, 1, index(line, ": ") - 1) }
FILENAME == D { if ($0 !~ /^#/ && $0 != "") k[key($0)] = 1; next }
/^\[/ { exit }
/^#/ || key($0) ~ /^lxc\./ || (key($0) in k) { print }'
LOCK_WAIT=${STOA_LOCK_WAIT_S:-LOCK_WAIT_S}
ct_running() { [ -d "$R/sys/fs/cgroup/lxc/$1" ]; }
# Files go into a running container only (pct push/pull/exec refuse a
# stopped one); a container stopped on purpose is not started behind its
# owner's back.
ct_up() { # VMID
  ct_running "$1" && return 0
  if [ "$mode" = dry ]; then echo "stoa: container $1 is stopped: a switch fails here (Proxmox puts no files into a stopped container)"; return 0; fi
  die "container $1 is stopped: Proxmox puts no files into a stopped container (pct push, pct exec); start it (pct start $1) and switch again"
}
ct_lockdir() { [ -d "$R/run/lock/lxc" ] || mkdir -p -- "$R/run/lock/lxc" || die "cannot create $R/run/lock/lxc"; }
# Waits (at most LOCK_WAIT seconds) until the container's config has no
# `lock`: stoa never removes or overwrites one.
ct_unlocked() { # VMID CONF
  _lw=0
  while :; do
    _lk=$(awk '/^\[/ { exit } /^lock: / { print substr($0, 7); exit }' "$2") || die "cannot read $2"
    [ -n "$_lk" ] || return 0
    if [ "$mode" = dry ]; then echo "stoa: container $1 is locked ($_lk): a switch waits up to ${LOCK_WAIT}s"; return 0; fi
    [ "$_lw" -gt 0 ] || echo "stoa: container $1 is locked ($_lk): waiting up to ${LOCK_WAIT}s"
    if [ "$_lw" -ge "$LOCK_WAIT" ]; then
      die "container $1 is locked ($_lk) and stayed locked for ${LOCK_WAIT}s; stoa never removes a lock: let the $_lk finish (or \`pct unlock $1\` if it is stale), then switch again"
    fi
    sleep 1
    _lw=$((_lw + 1))
  done
}
# The previous closure's store path of KEY (empty: none).
prev_sp() {
  [ -n "$prev" ] && [ -f "$prev/artifacts.tsv" ] || return 0
  awk -F '\t' -v k="$1" '$1 == k { print $2; exit }' "$prev/artifacts.tsv"
}
# Edits the description and raw lines of CONF in place, under the config lock.
ct_edit() { # VMID CONF WANT WAS
  if [ "$mode" = dry ]; then echo "stoa: would edit the description and raw lxc keys in $2"; return 0; fi
  ct_lockdir
  ( flock -w 10 9 || { echo "stoa: cannot lock the config of container $1" >&2; exit 1; }
    _et=$2.tmp.$$
    if awk -v D="$3" -v P="$4" "$CT_EDIT" "$3" "$4" "$2" >"$_et" && mv -f -- "$_et" "$2"; then exit 0; fi
    rm -f -- "$_et"
    exit 1
  ) 9>>"$R/run/lock/lxc/pve-config-$1.lock" || die "cannot edit $2"
}
# Reads CONF back: the owned keys must be WANT's. Sets `pend` when Proxmox
# left some of them pending.
ct_verify() { # VMID CONF WANT WAS
  [ "$mode" = dry ] && return 0
  _vo=$(awk -v m=verify -v undo="${undoing:-}" -v L="$2" -v D="$3" -v P="$4" "$CT_PLAN" "$2" "$3" "$4") || die "cannot read $2"
  pend=no
  while IFS="$TAB" read -r _vop _vk _vv; do
    case $_vop in
      pending) pend=yes ;;
      differ) die "container $1: after the change, $_vk is ${_vv:-different} on the node, not what generation says (see $3)" ;;
      fail) die "container $1: $_vk" ;;
    esac
  done <<VERIFY
$_vo
VERIFY
}
# Snapshots (SNAP: the containers this generation snapshots, set after the
# head; STOA_GENERATION: the generation activated, set by the node's
# `activate` step only, so a revert or an undo takes none): before the first
# change to a container in this activation, `pct snapshot VMID
# stoa_g<N>_<time>` when its root disk's storage can snapshot, after deleting
# the oldest of stoa's beyond SNAP_KEEP - 1. Each is recorded in
# STOA_SNAPSHOTS (`VMID NAME RUNNING ROLLBACK`) for the revert.
snapped=' '
ct_can_snapshot() { # CONF
  _cs=$(awk '/^\[/ { exit } /^rootfs: / { v = substr($0, 9); sub(/:.*/, "", v); print v; exit }' "$1") || return 1
  _ct=$(awk -v s="$_cs" '$1 ~ /:$/ && $2 == s { t = $1; sub(/:$/, "", t); print t; exit }' "$R/etc/pve/storage.cfg" 2>/dev/null) || return 1
  case $_ct in lvmthin | zfspool | rbd | btrfs) return 0 ;; *) return 1 ;; esac
}
ct_snapshot() { # KEY VMID
  case ${SNAP:-} in *" $2 "*) ;; *) return 0 ;; esac
  [ -n "${STOA_GENERATION:-}" ] || [ "$mode" = dry ] || return 0
  case $snapped$created in *" $2 "*) return 0 ;; esac
  snapped="$snapped$2 "
  _sc=$R/etc/pve/lxc/$2.conf
  [ -f "$_sc" ] || return 0
  if ! ct_can_snapshot "$_sc"; then
    echo "stoa: container $2: its root disk's storage cannot snapshot; changed without a snapshot"
    return 0
  fi
  _sn="stoa_g${STOA_GENERATION:-N}_$(date +%s)"
  _old=$(awk '/^\[stoa_g[0-9]+_[0-9]+\]$/ { print substr($0, 2, length($0) - 2) }' "$_sc" | sort -t _ -k 3,3n | head -n "-$((SNAP_KEEP - 1))")
  for _o in $_old; do
    step "apply $1 delsnapshot"
    run pct delsnapshot "$2" "$_o"
  done
  step "apply $1 snapshot"
  if [ "$mode" = dry ]; then
    echo "stoa: would run pct snapshot $2 $_sn"
    return 0
  fi
  if pct snapshot "$2" "$_sn" </dev/null; then
    _sr=0; if ct_running "$2"; then _sr=1; fi
    printf '%s %s %s %s\n' "$2" "$_sn" "$_sr" "${SNAP_ROLLBACK:-1}" >>"${STOA_SNAPSHOTS:-/dev/null}"
    echo "stoa: snapshot $2 $_sn"
  else
    echo "stoa: container $2: pct snapshot failed; changed without a snapshot"
  fi
}
# A container that High Availability manages (a `ct: VMID` section in the
# cluster's /etc/pve/ha/resources.cfg) is stopped and started through
# `ha-manager` (the HA stack would start one stopped behind its back); any
# other through `pct reboot`.
ct_ha() { # VMID
  [ -f "$R/etc/pve/ha/resources.cfg" ] && grep -qx "ct: $1" "$R/etc/pve/ha/resources.cfg"
}
ct_restart() { # VMID
  if ! ct_ha "$1"; then
    run pct reboot "$1"
    return 0
  fi
  run ha-manager set "ct:$1" --state stopped
  ct_wait_running "$1" no
  run ha-manager set "ct:$1" --state started
  ct_wait_running "$1" yes
}
# Waits (at most LOCK_WAIT seconds) until the container runs (yes) or not (no).
ct_wait_running() { # VMID yes|no
  [ "$mode" = switch ] || return 0
  _ww=0
  while :; do
    if ct_running "$1"; then _wr=yes; else _wr=no; fi
    [ "$_wr" != "$2" ] || return 0
    [ "$_ww" -lt "$LOCK_WAIT" ] || die "container $1: HA did not bring it to running=$2 within ${LOCK_WAIT}s (ha-manager status)"
    sleep 1
    _ww=$((_ww + 1))
  done
}
# Brings container VMID's config (CONF) to WANT, WAS being what stoa owned.
ct_reconcile() { # KEY VMID CONF WANT WAS
  _rk=$1 _rv=$2 _rc=$3 _rw=$4 _rp=$5
  _ro=$(awk -v m=plan -v undo="${undoing:-}" -v L="$_rc" -v D="$_rw" -v P="$_rp" "$CT_PLAN" "$_rc" "$_rw" "$_rp") || die "cannot read $_rc"
  # Nothing to change (a revert after a refused change): no wait for a lock.
  if [ -z "$_ro" ]; then
    ct_verify "$_rv" "$_rc" "$_rw" "$_rp"
    return 0
  fi
  ct_unlocked "$_rv" "$_rc"
  # The config may have changed while it was locked.
  _ro=$(awk -v m=plan -v undo="${undoing:-}" -v L="$_rc" -v D="$_rw" -v P="$_rp" "$CT_PLAN" "$_rc" "$_rw" "$_rp") || die "cannot read $_rc"
  case "$NL$_ro" in
    *"${NL}fail$TAB"*)
      _rf=$(printf '%s\n' "$_ro" | awk -F '\t' '$1 == "fail" { print $2; exit }')
      die "container $_rv: $_rf" ;;
  esac
  ct_snapshot "$_rk" "$_rv"
  set -- pct set "$_rv"
  _rd='' _rz='' _re=no _rr=no
  while IFS="$TAB" read -r _op _k _v; do
    case $_op in
      set) set -- "$@" "--$_k" "$_v" ;;
      delete) _rd=${_rd:+$_rd,}$_k ;;
      resize) _rz="$_rz$_k $_v$NL" ;;
      raw) _re=yes _rr=yes ;;
      desc) _re=yes ;;
    esac
  done <<PLAN
$_ro
PLAN
  [ -z "$_rd" ] || set -- "$@" --delete "$_rd"
  if [ $# -gt 3 ]; then
    step "apply $_rk set"
    run "$@"
  fi
  while read -r _k _v; do
    [ -n "$_k" ] || continue
    step "apply $_rk resize $_k"
    run pct resize "$_rv" "$_k" "$_v"
  done <<RESIZE
$_rz
RESIZE
  [ "$_re" = no ] || { step "apply $_rk edit"; ct_edit "$_rv" "$_rc" "$_rw" "$_rp"; }
  ct_verify "$_rv" "$_rc" "$_rw" "$_rp"
  if ct_running "$_rv" && { [ "$pend" = yes ] || [ "$_rr" = yes ]; }; then
    step "apply $_rk reboot"
    ct_restart "$_rv"
    ct_verify "$_rv" "$_rc" "$_rw" "$_rp"
    [ "$pend" = no ] || die "container $_rv: changes are still pending after pct reboot"
  elif [ "$mode" = dry ] && { [ $# -gt 3 ] || [ "$_rr" = yes ]; }; then
    echo "stoa: would run pct reboot $_rv if Proxmox leaves a change pending and the container runs"
  fi
}
# A template of a `dir` storage the node does not hold yet is downloaded from
# Proxmox's catalog (`pveam download`) before `pct create`.
ct_template() { # KEY VOLID
  case $2 in *:vztmpl/*) ;; *) return 0 ;; esac
  _ts=${2%%:*} _tf=${2#*:vztmpl/}
  _tp=$(awk -v s="$_ts" '/^[a-z0-9]+: / { here = ($1 == "dir:" && $2 == s); next } here && $1 == "path" { print $2; exit }' \
    "$R/etc/pve/storage.cfg" 2>/dev/null) || _tp=''
  [ -n "$_tp" ] || return 0
  [ ! -f "$R$_tp/template/cache/$_tf" ] || return 0
  step "apply $1 template"
  run pveam download "$_ts" "$_tf"
}
# Container config: `pct create` (started, in one call, unless raw keys must
# be written first) when the container does not exist, else reconciled.
ct_config() { # KEY SP VMID CREATE-ARGV...
  key=$1 sp=$2 vmid=$3
  shift 3
  conf=$R/etc/pve/lxc/$vmid.conf
  _was=$(prev_sp "$key")
  _was=${_was:+$S/$_was}
  if [ ! -e "$conf" ]; then
    ct_template "$key" "$4"
    step "apply $key create"
    [ "$rec" = no ] || bk ct-created "$vmid"
    created="$created$vmid "
    echo "stoa: created $vmid"
    if grep -q '^lxc\.' "$S/$sp"; then
      run "$@"
      step "apply $key edit"
      ct_edit "$vmid" "$conf" "$S/$sp" /dev/null
      step "apply $key start"
      run pct start "$vmid"
    else
      run "$@" --start 1
    fi
    ct_verify "$vmid" "$conf" "$S/$sp" /dev/null
  else
    if [ "$rec" = yes ]; then
      keep "/etc/pve/lxc/$vmid.conf"
      bk ct-config "$vmid" "${kept%%"$TAB"*}" "$sp"
    fi
    ct_reconcile "$key" "$vmid" "$conf" "$S/$sp" "${_was:-/dev/null}"
  fi
}
# A file inside a container, pushed atomically; with PROJECT and FILE, the
# compose project comes up in the same `pct exec`.
