# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- undo BACKUP -------------------------------------------------------------
# Puts back what a (failed) activation with STOA_BACKUP replaced, newest
# first: files byte for byte with their mode and owner, container configs
# (with `pct set` of the live keys and a reboot if needed), files in
# containers; destroys the containers it created; brings down the compose
# projects whose file did not exist and up again those whose file did;
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
CT_DEL='rm -f -- "$1" "$1.tmp.stoa" "$3"; d=${1%/*}; i=0
while [ "$i" -lt "$2" ] && rmdir -- "$d" 2>/dev/null; do d=${d%/*}; i=$((i + 1)); done'
CT_DOWN='[ ! -e "$2" ] || docker compose -p "$1" -f "$2" down'
undo() {
  [ -f "$B/index" ] || { echo "stoa: nothing to undo in $B"; echo "stoa: done"; exit 0; }
  echo "stoa: undoing $B"
  net_changed=no
  _uups=''
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
      ct-file)
        step "undo ct:$a1:$a2"
        ( ct_put "ct:$a1:$a2" "$a1" "$B/$a3" "$a2" "--perms $a4 --user $a5 --group $a6" '' ) \
          || undo_failed="$undo_failed$current$NL" ;;
      ct-new) step "undo ct:$a1:$a2"; try pct exec "$a1" -- sh -c "$CT_DEL" stoa-del "$a2" "$a3" "$CT_TMP" ;;
      compose)
        if [ "$a4" = 1 ]; then
          _uups="$_uups$a1$TAB$a2$TAB$a3$NL"
        else
          step "undo compose $a1/$a2"
          try pct exec "$a1" -- sh -c "$CT_DOWN" stoa-down "$a2" "$a3"
        fi ;;
      '') ;;
      *) step "undo $kind"; echo "stoa: undo: unknown backup line $kind" >&2; undo_failed="$undo_failed$current$NL" ;;
    esac
  done 3<<INDEX
$_urev
INDEX
  while IFS="$TAB" read -r _uv _up _uf <&3; do
    [ -n "$_uv" ] || continue
    step "undo compose $_uv/$_up"
    try pct exec "$_uv" -- docker compose -p "$_up" -f "$_uf" up -d --remove-orphans --wait
  done 3<<UPS
$_uups
UPS
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

