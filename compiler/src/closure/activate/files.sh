# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- Files on the node and in containers --------------------------------------
install_filled() { # SP DEST MODE OWNER GROUP PART...
  [ "$mode" = dry ] && { echo "stoa: would fill and install $2"; return 0; }
  _is=$1 _ip=$2 dest=$R$2 _im=$3 _io=$4 _ig=$5
  dir=${dest%/*}
  mkd "${dir:-/}" || die "cannot create $dir"
  save "$2"
  shift 5
  tmp=$dest.tmp.$$
  if fill "$_is" "$tmp" "$@" && { in_pve "$_ip" || { chown_ok "$_io" "$_ig" "$tmp" && chmod "$_im" "$tmp"; }; } && mv -f -- "$tmp" "$dest"; then
    return 0
  fi
  rm -f -- "$tmp"
  die "cannot install $dest"
}
# Puts a file into a container: `pct push` to CT_TMP, then one `pct exec`
# creates the folder (with DIRMODE, if given), moves the file next to PATH
# and renames it over PATH (atomic), and with PROJECT runs `docker compose
# up` of FILE. Exit status 97: the file could not be put in place.
CT_PUT='t=$1 f=$2 m=$3 p=$4 c=$5 d=${2%/*}
if { [ -d "${d:-/}" ] || mkdir -p -- "$d"; } && { [ -z "$m" ] || chmod "$m" "$d"; } &&
  mv -f -- "$t" "$f.tmp.stoa" && mv -f -- "$f.tmp.stoa" "$f"; then :; else rm -f -- "$t" "$f.tmp.stoa"; exit 97; fi
[ -z "$p" ] || exec docker compose -p "$p" -f "$c" up -d --remove-orphans --wait'
ct_put() { # KEY VMID SRC PATH PUSH-ARGS DIRMODE [PROJECT FILE]
  _pk=$1 _pv=$2 _pp=$4 _pm=$6 _pj=${7:-} _pf=${8:-}
  _pd=${_pp%/*}
  if [ "$mode" = dry ]; then
    # shellcheck disable=SC2086 # push arguments are words
    echo "stoa: would run pct push $_pv $3 $CT_TMP $5"
    echo "stoa: would run pct exec $_pv -- mkdir -p ${_pd:-/}${_pm:+ (mode $_pm)}; mv $CT_TMP $_pp.tmp.stoa; mv $_pp.tmp.stoa $_pp"
    [ -z "$_pj" ] || echo "stoa: would run pct exec $_pv -- docker compose -p $_pj -f $_pf up -d --remove-orphans --wait"
    return 0
  fi
  # shellcheck disable=SC2086 # push arguments are words
  pct push "$_pv" "$3" "$CT_TMP" $5 </dev/null || die "command failed ($?): pct push $_pv $3 $CT_TMP $5"
  [ -z "$_pj" ] || step "apply $_pk compose-up"
  pct exec "$_pv" -- sh -c "$CT_PUT" stoa-put "$CT_TMP" "$_pp" "$_pm" "$_pj" "$_pf" </dev/null
  _pr=$?
  if [ "$_pr" != 0 ]; then
    if [ -z "$_pj" ] || [ "$_pr" = 97 ]; then
      current="install $_pk"
      die "cannot put $_pp into container $_pv (pct exec: $_pr)"
    fi
    die "command failed ($_pr): pct exec $_pv -- docker compose -p $_pj -f $_pf up -d --remove-orphans --wait"
  fi
  [ -z "$_pj" ] || upped="$upped$_pv/$_pj "
}
# A file inside a container filled in from its template: assembled in the
# node's private secrets work folder, pushed with its mode, renamed; the
# folder holding it inside the container is 0700.
ct_filled() { # KEY SP VMID PATH MODE PART...
  _tk=$1 _ts=$2 _tv=$3 _tp=$4 _tm=$5
  shift 5
  step "install $_tk"
  ct_up "$_tv"
  if [ "$mode" = dry ]; then echo "stoa: would fill and push $_tp into container $_tv"; return 0; fi
  _tw=${SEC%/*}/.work
  mkdir -p -- "$_tw" && chmod 0700 "$_tw" || die "cannot create $_tw"
  _tt=$_tw/fill.$$
  if ! fill "$_ts" "$_tt" "$@"; then rm -f -- "$_tt"; die "cannot fill $_tp"; fi
  ct_save "$_tv" "$_tp"
  ( ct_put "$_tk" "$_tv" "$_tt" "$_tp" "--perms $_tm" 0700 )
  _tr=$?
  rm -f -- "$_tt"
  [ "$_tr" = 0 ] || exit "$_tr"
}
# A filled file changed: its compose project must come up again after every
# container file is in place (pending_ups); with SERVICES, those services
# are recreated (Compose does not see a changed file secret).
want_up() { # KEY VMID PROJECT FILE [SERVICE...]
  _wk=$1 _wv=$2 _wp=$3 _wf=$4
  shift 4
  ups="$ups$_wk$TAB$_wv$TAB$_wp$TAB$_wf$TAB$*$NL"
}
pending_ups() {
  [ -n "$ups" ] || return 0
  while IFS="$TAB" read -r _uk _uv _up _uf _us; do
    [ -n "$_uk" ] || continue
    if [ -n "$_us" ]; then
      step "apply $_uk compose-recreate"
      ct_up "$_uv"
      bk_compose "$_uv" "$_up" "$_uf"
      # shellcheck disable=SC2086 # service names are single words
      run pct exec "$_uv" -- docker compose -p "$_up" -f "$_uf" up -d --force-recreate --no-deps --wait $_us
      upped="$upped$_uv/$_up "
    else
      case $upped in *" $_uv/$_up "*) continue ;; esac
      compose_up "$_uk" "$_uv" "$_up" "$_uf"
    fi
  done <<UPS
$ups
UPS
}
# Atomic install of a store file at R+DEST: temporary file in the same
# directory, then rename (no symlinks: /etc/pve allows none).
install_file() { # SP DEST MODE OWNER GROUP
  [ "$mode" = dry ] && { echo "stoa: would install $2"; return 0; }
  save "$2"
  put_file "$S/$1" "$2" "$3" "$4" "$5"
}
put_file() { # SRC DEST MODE OWNER GROUP
  dest=$R$2
  dir=${dest%/*}
  mkd "${dir:-/}" || die "cannot create $dir"
  tmp=$dest.tmp.$$
  # One `install` sets owner, then mode (a chown after a chmod would drop
  # setuid/setgid bits). Under /etc/pve (pmxcfs) the file system sets both.
  if in_pve "$2"; then
    cat -- "$1" >"$tmp"
  elif [ "$uid" = 0 ]; then
    install -m "$3" -o "$4" -g "$5" -- "$1" "$tmp"
  else
    install -m "$3" -- "$1" "$tmp"
  fi && mv -f -- "$tmp" "$dest" && return 0
  rm -f -- "$tmp"
  die "cannot install $dest"
}
# /etc/pve is pmxcfs: no chmod (but to exactly 0640, 0600 in priv/), chown
# (but to root:www-data) or symlink; files are written to a temporary and
# renamed, as Proxmox does, and get their mode and owner from it.
in_pve() { case $1 in /etc/pve/*) return 0 ;; *) return 1 ;; esac; }
uid=$(id -u)
chown_ok() {
  [ "$uid" = 0 ] || return 0
  chown -- "$1:$2" "$3"
}
ct_file() { # KEY SP VMID PATH MODE [PROJECT FILE]
  step "install $1"
  ct_up "$3"
  [ "$mode" = dry ] || ct_save "$3" "$4"
  if [ $# -gt 5 ]; then
    [ "$mode" = dry ] || bk_compose "$3" "$6" "$7"
    ct_put "$1" "$3" "$S/$2" "$4" "--perms $5" '' "$6" "$7"
  else
    ct_put "$1" "$3" "$S/$2" "$4" "--perms $5" ''
  fi
}
compose_up() { # KEY VMID PROJECT FILE
  step "apply $1 compose-up"
  ct_up "$2"
  bk_compose "$2" "$3" "$4"
  run pct exec "$2" -- docker compose -p "$3" -f "$4" up -d --remove-orphans --wait
  upped="$upped$2/$3 "
}
network() { # KEY SP
  step "install $1"
  if [ "$mode" = dry ]; then
    echo "stoa: would install /etc/network/interfaces"
  else
    mkd "$R/etc/network" && mkd "$R/run/network" || die "cannot create $R/etc/network"
    save /etc/network/interfaces.new
    save /etc/network/interfaces net
    cp -- "$S/$2" "$R/etc/network/interfaces.new" && chmod 0644 "$R/etc/network/interfaces.new" \
      || die "cannot write interfaces.new"
  fi
  step "apply $1 check"
  run ifup -a -s -i "$R/etc/network/interfaces.new"
  step "apply $1 rename"
  run mv -f -- "$R/etc/network/interfaces.new" "$R/etc/network/interfaces"
  step "apply $1 reload"
  run ifreload -a
}
