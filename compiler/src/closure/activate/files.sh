# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- Files on the node ---------------------------------------------------------
# A file of this node filled in from its template: the temporary file is
# private until it has its owner and mode, then renamed over DEST.
install_filled() { # KEY SP DEST MODE OWNER GROUP PART...
  [ "$mode" = dry ] && { echo "stoa: would fill and install $3"; return 0; }
  _ik=$1 _is=$2 _ip=$3 dest=$R$3 _im=$4 _io=$5 _ig=$6
  dir=${dest%/*}
  mkd "${dir:-/}" || die "cannot create $dir"
  save "$_ip"
  shift 6
  tmp=$dest.tmp.$$
  if fill "$_is" "$tmp" "$@" && filled_sum "$_ik" "$tmp" && { in_pve "$_ip" || { chown_ok "$_io" "$_ig" "$tmp" && chmod "$_im" "$tmp"; }; } && aside "$dest" && mv -fT -- "$tmp" "$dest"; then
    return 0
  fi
  rm -f -- "$tmp"
  die "cannot install $dest"
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
  fi && aside "$dest" && mv -fT -- "$tmp" "$dest" && return 0
  rm -f -- "$tmp"
  die "cannot install $dest"
}
# A folder where a file goes (made by hand since the file was installed) is
# moved aside to DEST.stoa-drifted.PID, never deleted.
aside() { # DEST
  [ -L "$1" ] || [ ! -d "$1" ] && return 0
  mv -T -- "$1" "$1.stoa-drifted.$$" || return 1
  echo "stoa: moved aside $1 -> $1.stoa-drifted.$$"
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
