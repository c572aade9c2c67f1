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
#   ct-file VMID PATH N MODE UID GID a file in a container existed (pct pull)
#   ct-new VMID PATH LEVELS          it did not; LEVELS folders above it neither
#   compose VMID PROJECT FILE 0|1    a project goes up; its file existed (1)
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
# In a container: `present MODE UID GID` or `absent LEVELS` (how many
# folders above the file are missing).
CT_STAT='if [ -e "$1" ]; then echo "present $(stat -c "%a %u %g" -- "$1")"; else
n=0; d=${1%/*}; while [ -n "$d" ] && [ ! -d "$d" ]; do n=$((n + 1)); d=${d%/*}; done; echo "absent $n"; fi'
# What a file in a container is before it is replaced (containers this
# activation did not create).
ct_save() { # VMID PATH
  [ "$rec" = yes ] || return 0
  case $created in *" $1 "*) return 0 ;; esac
  _cs=$(pct exec "$1" -- sh -c "$CT_STAT" stoa-stat "$2" </dev/null) || die "cannot look at $2 in container $1"
  _cs=${_cs%"$CR"}
  case $_cs in
    "present "*)
      bn=$((bn + 1))
      pct pull "$1" "$2" "$B/$bn" </dev/null || die "cannot back up $2 of container $1"
      # shellcheck disable=SC2086 # three numbers
      set -- "$1" "$2" ${_cs#present }
      bk ct-file "$1" "$2" "$bn" "$3" "$4" "$5"
      ctkept="$ctkept$1:$2$NL" ;;
    "absent "*) bk ct-new "$1" "$2" "${_cs#absent }" ;;
    *) die "cannot look at $2 in container $1 (it said: $_cs)" ;;
  esac
}
bk_compose() { # VMID PROJECT FILE: before a project goes up
  [ "$rec" = yes ] || return 0
  case $created in *" $1 "*) return 0 ;; esac
  case $composed in *" $1/$2 "*) return 0 ;; esac
  composed="$composed$1/$2 "
  case $ctkept in
    *"$NL$1:$3$NL"*) bk compose "$1" "$2" "$3" 1 ;;
    *) bk compose "$1" "$2" "$3" 0 ;;
  esac
}

# A file of this node filled in from its template: the temporary file is
# private until it has its owner and mode, then renamed over DEST.
