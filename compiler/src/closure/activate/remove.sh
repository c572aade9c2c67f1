# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- Removal of what the previous generation had and this one has not ---------
remove() { # KEY KIND ARGS...
  key=$1 kind=$2
  shift 2
  cluster_writer "$key" || return 0
  echo "stoa: removed $key"
  step "remove $key"
  case $kind in
    compose)
      ct_snapshot "$key" "$1"
      run pct exec "$1" -- docker compose -p "$2" -f "$3" down; run pct exec "$1" -- rm -f "$3" ;;
    ct-file) run pct exec "$1" -- rm -f "$2" ;;
    host-file) run rm -f -- "$R$1" ;;
    pbs-datastores) pbs_datastores "$key" '' "$S/$_sp" ;;
    pbs-users) ;;
    sections)
      if [ -e "$R$1" ]; then
        # shellcheck disable=SC2046 # three words
        merge_sections "$key" '' "$1" $(stat -c '%a %U %G' -- "$R$1") "$S/$_sp"
      fi ;;
    ct-config) ct_remove "$1" ;;
    network) ;;
    *) die "unknown artifact kind $kind" ;;
  esac
}
# A container the generation no longer declares is destroyed (with its
# disks) only when the switch was told so (STOA_ALLOW_DESTROY names it: the
# user's --allow-destroy, or a revert of the activation that created it),
# and never when its config has `protection: 1`; else it is kept as it is
# and reported.
ct_remove() { # VMID
  _rc=$R/etc/pve/lxc/$1.conf
  [ -e "$_rc" ] || { echo "stoa: container $1 is gone already"; return 0; }
  case " ${STOA_ALLOW_DESTROY:-} " in
    *" $1 "*) ;;
    *)
      echo "stoa: kept container $1: the sources no longer declare it; it stays as it is (stoa switch --allow-destroy $1 destroys it and its disks)"
      return 0 ;;
  esac
  if awk '/^\[/ { exit } $0 == "protection: 1" { found = 1 } END { exit !found }' "$_rc"; then
    echo "stoa: kept container $1: protection is on (pct set $1 --protection 0 first to destroy it)"
    return 0
  fi
  if [ "$mode" = dry ] || ct_running "$1"; then
    run pct stop "$1"
  fi
  run pct destroy "$1"
}
removals() { # PHASE: the kinds removed in this phase
  [ -n "$REM" ] || return 0
  while IFS="$TAB" read -r k _sp _sha kind a1 a2 a3; do
    [ -n "$k" ] || continue
    case " $1 " in *" $kind "*) ;; *) continue ;; esac
    remove "$k" "$kind" "$a1" "$a2" "$a3"
  done <<REMOVED
$REM
REMOVED
}

