# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- Backups (first activation, STOA_BACKUP) -------------------------------
# BACKUP/index has one line per thing the activation is about to change,
# written before it changes it; `undo` replays the lines in reverse. Saved
# bytes are BACKUP/<n>. Lines (tab-separated, paths without the root):
#   file PATH N MODE UID GID [net]   PATH existed: its bytes are N
#   link PATH TARGET [net]           PATH was a symbolic link
#   new PATH [net]                   PATH did not exist
#   dir PATH                         the topmost folder created for a file
#   ct-created VMID                  `pct create` is about to run
#   pbs-created NAME                 a PBS datastore is about to be created
#   ct-config VMID N SP              the container existed: its config is N,
#                                    SP the generation file applied to it
#   ct-put VMID N                    files go into a container (not created by
#                                    this activation): N is what it said they
#                                    were before (a tar, see ctfiles.sh)
bn=0
bk() { # KIND FIELD...: appends an index line
  _bl=$1
  shift
  for _ba in "$@"; do _bl=$_bl$TAB$_ba; done
  printf '%s\n' "$_bl" >>"$B/index" || die "cannot write $B/index"
}
# Copies R+PATH into the backup; sets kept to its N, mode, owner and group.
keep() { # PATH
  bn=$((bn + 1))
  cp -- "$R$1" "$B/$bn" || die "cannot back up $R$1"
  _km=$(stat -c "%a$TAB%u$TAB%g" -- "$R$1") || die "cannot back up $R$1"
  kept=$bn$TAB$_km
}
save() { # PATH [TAG]: what R+PATH is before it is replaced
  [ "$rec" = yes ] || return 0
  if [ -L "$R$1" ]; then
    bk link "$1" "$(readlink -- "$R$1")" ${2:+"$2"}
  elif [ -e "$R$1" ]; then
    keep "$1"
    bk file "$1" "$kept" ${2:+"$2"}
  else
    bk new "$1" ${2:+"$2"}
  fi
}
# mkdir -p DIR; with a backup, records the topmost folder it creates.
mkd() { # DIR (with the root)
  [ -d "$1" ] && return 0
  if [ "$rec" = yes ]; then
    _md=$1
    while [ -n "${_md%/*}" ] && [ ! -d "${_md%/*}" ]; do _md=${_md%/*}; done
    bk dir "${_md#"$R"}"
  fi
  mkdir -p -- "$1"
}
