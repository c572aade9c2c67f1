# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- Removal of what the previous generation had and this one has not ---------
remove() { # KEY KIND ARGS...
  key=$1 kind=$2
  shift 2
  echo "stoa: removed $key"
  step "remove $key"
  case $kind in
    compose) run pct exec "$1" -- docker compose -p "$2" -f "$3" down; run pct exec "$1" -- rm -f "$3" ;;
    ct-file) run pct exec "$1" -- rm -f "$2" ;;
    host-file) run rm -f -- "$R$1" ;;
    pbs-datastores) pbs_datastores "$key" '' "$S/$_sp" ;;
    pbs-users) ;;
    sections)
      if [ -e "$R$1" ]; then
        # shellcheck disable=SC2046 # three words
        merge_sections "$key" '' "$1" $(stat -c '%a %U %G' -- "$R$1") "$S/$_sp"
      fi ;;
    ct-config)
      if [ "$mode" = dry ] || ct_running "$1"; then
        run pct stop "$1"
      fi
      run pct destroy "$1" ;;
    network) ;;
    *) die "unknown artifact kind $kind" ;;
  esac
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

