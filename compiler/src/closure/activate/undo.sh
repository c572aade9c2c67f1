# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- undo BACKUP -------------------------------------------------------------
# Puts back what a (failed) activation with STOA_BACKUP replaced, newest
# first: files byte for byte with their mode and owner, container configs
# (with `pct set` of the live keys and a reboot if needed), files in
# containers (and their compose projects: down where the file did not
# exist, up again where it did); destroys the containers it created;
# `ifreload -a` if the network file changed; removes the folders it made.
# Goes on after a failure and fails at the end. Running it again is safe.
undo_failed=''
try() { # ARGV: runs it; a failure is reported and remembered
  "$@" </dev/null && return 0
  echo "stoa: undo: command failed ($?): $*" >&2
  undo_failed="$undo_failed$current$NL"
  return 1
}
undo_file() { # PATH N MODE UID GID TAG
  _uc=no
  cmp -s -- "$B/$2" "$R$1" || _uc=yes
  _ut=$R$1.tmp.$$
  if in_pve "$1"; then
    try sh -c 'cat -- "$1" >"$2"' stoa-cat "$B/$2" "$_ut"
  elif [ "$uid" = 0 ]; then
    try install -m "$3" -o "$4" -g "$5" -- "$B/$2" "$_ut"
  else
    try install -m "$3" -- "$B/$2" "$_ut"
  fi && try mv -f -- "$_ut" "$R$1" || { rm -f -- "$_ut"; return 1; }
  [ "$6" != net ] || [ "$_uc" = no ] || net_changed=yes
}
undo_link() { # PATH TARGET TAG
  [ "$(readlink -- "$R$1" 2>/dev/null)" = "$2" ] && return 0
  _ut=$R$1.tmp.$$
  try ln -s -- "$2" "$_ut" && try mv -fT -- "$_ut" "$R$1" || { rm -f -- "$_ut"; return 1; }
  [ "$3" != net ] || net_changed=yes
}
undo_new() { # PATH TAG
  if [ -e "$R$1" ] || [ -L "$R$1" ]; then
    try rm -f -- "$R$1" && { [ "$2" != net ] || net_changed=yes; }
  fi
}
undo_created() { # VMID
  conf=$R/etc/pve/lxc/$1.conf
  [ -e "$conf" ] || return 0
  if ct_running "$1"; then
    try pct stop "$1" || return 1
  fi
  try pct destroy "$1" && try rm -f -- "$conf"
}
# A container that existed before the failed activation: its owned keys go
# back to the saved config's values (keys it did not have are deleted), its
# description and raw lines too; a grown disk stays grown.
undo_config() { # VMID N SP
  conf=$R/etc/pve/lxc/$1.conf
  [ -e "$conf" ] || { echo "stoa: undo: container $1 has no config any more" >&2; undo_failed="$undo_failed$current$NL"; return 1; }
  awk -v D="$S/$3" "$CT_RESTRICT" "$S/$3" "$B/$2" >"$B/$2.owned" || { undo_failed="$undo_failed$current$NL"; return 1; }
  ( mode=switch undoing=1; ct_reconcile "ct:$1" "$1" "$conf" "$B/$2.owned" "$S/$3" ) || undo_failed="$undo_failed$current$NL"
}
# Puts back the files of a container from a `ct-put` record, in one
# `pct exec` (a tar on stdin): first `docker compose down` of the projects
# whose file did not exist (while it is still there), then every file as it
# was (owner, mode, a rename) or deleted with the folders made for it, then
# `up` again of the projects whose file existed.
CT_RESTORE='r=${1%/} T=${1%/}/.stoa-put.$$ e=0
TAB=$(printf "\t")
umask 077
for x in "$r"/.stoa-put.*; do [ ! -e "$x" ] || rm -rf -- "$x"; done
set -f
mkdir -- "$T" && tar -xf - -C "$T" || { rm -rf -- "$T"; exit 96; }
while IFS=$TAB read -r k a b c <&3; do
  if [ "$k" = u ] && [ "$c" = 0 ] && [ -e "$r$b" ]; then docker compose -p "$a" -f "$r$b" down </dev/null || e=1; fi
done 3<"$T/i"
while IFS=$TAB read -r k a b c d g <&3; do
  case $k in
    f) { { [ "$(id -u)" != 0 ] || chown "$d:$g" "$T/$a"; } && chmod "$c" "$T/$a" &&
      mv -f -- "$T/$a" "$r$b.tmp.stoa" && mv -f -- "$r$b.tmp.stoa" "$r$b"; } ||
      { echo "stoa-restore: cannot put back $b" >&2; e=1; } ;;
    a) rm -f -- "$r$a" "$r$a.tmp.stoa" || e=1
      p=${a%/*} n=0
      while [ "$n" -lt "$b" ] && rmdir -- "$r$p" 2>/dev/null; do p=${p%/*} n=$((n + 1)); done ;;
  esac
done 3<"$T/i"
while IFS=$TAB read -r k a b c <&3; do
  if [ "$k" = u ] && [ "$c" = 1 ]; then docker compose -p "$a" -f "$r$b" up -d --remove-orphans --wait </dev/null || e=1; fi
done 3<"$T/i"
rm -rf -- "$T"
exit "$e"'
undo_ct_put() { # VMID N
  # The record is written before anything changes: empty, nothing did.
  [ -s "$B/$2" ] || return 0
  _ud=$B/$2.d
  if ! { rm -rf -- "$_ud" && mkdir -- "$_ud" && tar -xf "$B/$2" -C "$_ud" && [ -f "$_ud/i" ]; }; then
    echo "stoa: undo: the record of container $1's files ($B/$2) cannot be read" >&2
    undo_failed="$undo_failed$current$NL"
    return 1
  fi
  if ! (cd -- "$_ud" && exec tar -cf - .) | pct exec "$1" -- sh -c "$CT_RESTORE" stoa-restore /; then
    echo "stoa: undo: command failed: pct exec $1 -- sh -c (put back its files) stoa-restore /" >&2
    undo_failed="$undo_failed$current$NL"
  fi
  rm -rf -- "$_ud"
}
undo() {
  [ -f "$B/index" ] || { echo "stoa: nothing to undo in $B"; echo "stoa: done"; exit 0; }
  echo "stoa: undoing $B"
  net_changed=no
  _udirs=''
  _urev=$(tac -- "$B/index") || die "cannot read $B/index"
  while IFS="$TAB" read -r kind a1 a2 a3 a4 a5 a6 <&3; do
    case $kind in
      file) step "undo $a1"; undo_file "$a1" "$a2" "$a3" "$a4" "$a5" "$a6" ;;
      link) step "undo $a1"; undo_link "$a1" "$a2" "$a3" ;;
      new) step "undo $a1"; undo_new "$a1" "$a2" ;;
      dir) _udirs="$_udirs$a1$NL" ;;
      ct-created) step "undo create $a1"; undo_created "$a1" ;;
      pbs-created) step "undo datastore $a1"; try proxmox-backup-manager datastore remove "$a1" ;;
      ct-config) step "undo config $a1"; undo_config "$a1" "$a2" "$a3" ;;
      ct-put) step "undo ct:$a1 files"; undo_ct_put "$a1" "$a2" ;;
      '') ;;
      *) step "undo $kind"; echo "stoa: undo: unknown backup line $kind" >&2; undo_failed="$undo_failed$current$NL" ;;
    esac
  done 3<<INDEX
$_urev
INDEX
  if [ "$net_changed" = yes ]; then
    step "undo network reload"
    try ifreload -a
  fi
  while IFS= read -r _ud <&3; do
    [ -n "$_ud" ] && [ -d "$R$_ud" ] || continue
    step "undo $_ud"
    try find "$R$_ud" -depth -type d -empty -delete
  done 3<<DIRS
$_udirs
DIRS
  if [ -n "$undo_failed" ]; then
    current="undo ($(printf '%s' "$undo_failed" | head -n 1))"
    die "some of the undo failed"
  fi
  echo "stoa: undone"
}

