# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- Files in containers: one `pct exec` per container -----------------------
# Every `pct` call is a Perl start-up on a real node, so the files of a
# container and the compose projects they bring up are queued (ct_file,
# ct_filled, want_up) in a private staging folder and sent in one call
# (ct_flush): `pct exec VMID -- sh -c CT_BATCH stoa-put / REC` with a tar
# on stdin holding
#   m   one line per file: N, PATH, MODE, DIRMODE (tab-separated)
#   u   one line per project: PROJECT, FILE, SERVICES (empty: `up`, else
#       the services to recreate)
#   f/N the bytes of file N.
# The script (paths only ever as data, the container's root as $1, which a
# test double maps) removes what a killed earlier call left, unpacks it; with REC=1 first writes to stdout a tar of
# what the files were (`i`: `f N PATH MODE UID GID` for a file that existed,
# its bytes `N`; `a PATH LEVELS` for one that did not, LEVELS folders above
# it neither; `u PROJECT FILE 0|1`, 1: the project's file existed); then
# puts each file in place (a folder in its way, made by hand, moved aside to
# PATH.stoa-drifted.PID; folder made, owner root, MODE, a rename in the
# folder: atomic), then brings the projects up, their output on stderr. A
# failure prints `stoa-put: failed file|up|unpack|backup I` on stderr and
# exits 97, so that the node names the failed step.
CT_BATCH='r=${1%/} rec=$2 T=${1%/}/.stoa-put.$$
TAB=$(printf "\t")
umask 077
fail() { echo "stoa-put: failed $1 $2" >&2; rm -rf -- "$T"; exit 97; }
for x in "$r"/.stoa-put.*; do [ ! -e "$x" ] || rm -rf -- "$x"; done
set -f
mkdir -- "$T" && tar -xf - -C "$T" || fail unpack 0
if [ "$rec" = 1 ]; then
  mkdir -- "$T/b" || fail backup 0
  while IFS=$TAB read -r n p m dm; do
    if [ -e "$r$p" ]; then
      s=$(stat -c "%a %u %g" -- "$r$p") && cp -- "$r$p" "$T/b/$n" || fail backup 0
      set -- $s
      printf "f\t%s\t%s\t%s\t%s\t%s\n" "$n" "$p" "$1" "$2" "$3"
    else
      l=0 d=${p%/*}
      while [ -n "$d" ] && [ ! -d "$r$d" ]; do l=$((l + 1)) d=${d%/*}; done
      printf "a\t%s\t%s\n" "$p" "$l"
    fi
  done <"$T/m" >"$T/b/i" || fail backup 0
  while IFS=$TAB read -r j f s; do
    x=0
    [ ! -e "$r$f" ] || x=1
    printf "u\t%s\t%s\t%s\n" "$j" "$f" "$x"
  done <"$T/u" >>"$T/b/i" || fail backup 0
  tar -cf - -C "$T/b" . || fail backup 0
fi
i=0
while IFS=$TAB read -r n p m dm; do
  i=$((i + 1)) d=${p%/*}
  { [ -d "$r$d/" ] || mkdir -p -- "$r$d"; } && { [ -z "$dm" ] || chmod "$dm" "$r$d/"; } &&
    { [ "$(id -u)" != 0 ] || chown 0:0 "$T/f/$n"; } && chmod "$m" "$T/f/$n" &&
    mv -f -- "$T/f/$n" "$r$p.tmp.stoa" &&
    { [ -L "$r$p" ] || [ ! -d "$r$p" ] || mv -T -- "$r$p" "$r$p.stoa-drifted.$$"; } &&
    mv -fT -- "$r$p.tmp.stoa" "$r$p" ||
    { rm -f -- "$r$p.tmp.stoa"; fail file "$i"; }
done <"$T/m"
i=0
while IFS=$TAB read -r j f s <&3; do
  i=$((i + 1))
  if [ -n "$s" ]; then
    docker compose -p "$j" -f "$r$f" up -d --force-recreate --no-deps --wait $s
  else
    docker compose -p "$j" -f "$r$f" up -d --remove-orphans --wait
  fi </dev/null >&2 || fail up "$i"
done 3<"$T/u"
rm -rf -- "$T"'
STG=''
ctq=' '
ctn=0
# The queue folder of a container, in _qd (made on first use).
ct_stage() { # VMID
  if [ -z "$STG" ]; then
    # Beside the secrets folders when there are secrets (filled files).
    _qp=${TMPDIR:-/tmp}
    [ -z "$SEC" ] || _qp=${SEC%/*}/.work
    { [ -d "$_qp" ] || { mkdir -p -- "$_qp" && chmod 0700 "$_qp"; }; } \
      && STG=$(mktemp -d "$_qp/stoa-ct.XXXXXX") || die "cannot create a staging folder in $_qp"
    trap 'rm -rf -- "$STG"' EXIT
  fi
  _qd=$STG/$1
  case $ctq in *" $1 "*) return 0 ;; esac
  mkdir -p -- "$_qd/f" && : >"$_qd/m" && : >"$_qd/k" && : >"$_qd/u1" && : >"$_qd/uk1" \
    && : >"$_qd/u2" && : >"$_qd/uk2" || die "cannot create $_qd"
  ctq="$ctq$1 "
}
# Queues a file; its bytes go to _qf.
ct_q_file() { # KEY VMID PATH MODE DIRMODE
  ct_stage "$2"
  ctn=$((ctn + 1))
  _qf=$_qd/f/$ctn
  printf '%s\t%s\t%s\t%s\n' "$ctn" "$3" "$4" "$5" >>"$_qd/m" && printf '%s\n' "$1" >>"$_qd/k" \
    || die "cannot write $_qd/m"
}
ct_file() { # KEY SP VMID PATH MODE [PROJECT FILE]
  step "install $1"
  ct_up "$3"
  ct_q_file "$1" "$3" "$4" "$5" ''
  [ "$mode" = dry ] || cp -- "$S/$2" "$_qf" || die "cannot stage $S/$2"
  [ $# -le 5 ] || want_up "$1" "$3" "$6" "$7"
}
# A file inside a container filled in from its template (in the private
# staging folder); the folder holding it inside the container is 0700.
ct_filled() { # KEY SP VMID PATH MODE PART...
  _tk=$1 _ts=$2 _tv=$3 _tp=$4 _tm=$5
  shift 5
  step "install $_tk"
  ct_up "$_tv"
  ct_q_file "$_tk" "$_tv" "$_tp" "$_tm" 0700
  [ "$mode" = dry ] && return 0
  fill "$_ts" "$_qf" "$@" && filled_sum "$_tk" "$_qf" || die "cannot fill $_tp"
}
# A compose project comes up once after every file of its container is in
# place; with SERVICES, those are recreated (Compose does not see a changed
# file secret), after the plain `up`s.
want_up() { # KEY VMID PROJECT FILE [SERVICE...]
  _wk=$1 _wv=$2 _wp=$3 _wf=$4
  shift 4
  ct_up "$_wv"
  ct_stage "$_wv"
  if [ $# -eq 0 ]; then
    grep -qxF -- "$_wp$TAB$_wf$TAB" "$_qd/u1" && return 0
    printf '%s\t%s\t\n' "$_wp" "$_wf" >>"$_qd/u1" && printf '%s\n' "$_wk" >>"$_qd/uk1"
  else
    printf '%s\t%s\t%s\n' "$_wp" "$_wf" "$*" >>"$_qd/u2" && printf '%s\n' "$_wk" >>"$_qd/uk2"
  fi || die "cannot write $_qd"
}
ct_flush() {
  for _xv in $ctq; do ct_send "$_xv"; done
}
# The docker compose command of a `u` line.
ct_up_argv() { # PROJECT FILE SERVICES
  if [ -n "$3" ]; then
    echo "docker compose -p $1 -f $2 up -d --force-recreate --no-deps --wait $3"
  else
    echo "docker compose -p $1 -f $2 up -d --remove-orphans --wait"
  fi
}
ct_send() { # VMID
  ct_snapshot "container $1" "$1"
  _xd=$STG/$1
  cat -- "$_xd/u1" "$_xd/u2" >"$_xd/u" && cat -- "$_xd/uk1" "$_xd/uk2" >"$_xd/uk" \
    || die "cannot write $_xd/u"
  if [ "$mode" = dry ]; then
    echo "stoa: would run pct exec $1 once, to:"
    while IFS="$TAB" read -r _ _xp _xm _; do echo "stoa:   put $_xp (mode $_xm)"; done <"$_xd/m"
    while IFS="$TAB" read -r _xj _xc _xs; do echo "stoa:   run $(ct_up_argv "$_xj" "$_xc" "$_xs")"; done <"$_xd/u"
    return 0
  fi
  _xr=0
  if [ "$rec" = yes ]; then case $created in *" $1 "*) ;; *) _xr=1 ;; esac; fi
  _xo=/dev/null
  if [ "$_xr" = 1 ]; then
    bn=$((bn + 1)) _xo=$B/$bn
    bk ct-put "$1" "$bn"
  fi
  while IFS="$TAB" read -r _xj _xc _xs <&3 && IFS= read -r _xk <&4; do
    if [ -n "$_xs" ]; then step "apply $_xk compose-recreate"; else step "apply $_xk compose-up"; fi
  done 3<"$_xd/u" 4<"$_xd/uk"
  (cd -- "$_xd" && exec tar -cf - m u f) | pct exec "$1" -- sh -c "$CT_BATCH" stoa-put / "$_xr" >"$_xo" 2>"$_xd.err"
  _xs=$?
  # The script's own failure line is kept; everything else it said is shown.
  _xf=$(awk '/^stoa-put: failed / { f = $3 " " $4; next } { print > "/dev/stderr" } END { print f }' "$_xd.err")
  [ "$_xs" = 0 ] && return 0
  _xi=${_xf#* }
  case $_xf in
    "file "*)
      current="install $(sed -n "${_xi}p" "$_xd/k")"
      die "cannot put $(awk -F "$TAB" -v i="$_xi" 'NR == i { print $2 }' "$_xd/m") into container $1" ;;
    "up "*)
      IFS="$TAB" read -r _xj _xc _xs <<EOF
$(sed -n "${_xi}p" "$_xd/u")
EOF
      _xk=$(sed -n "${_xi}p" "$_xd/uk")
      if [ -n "$_xs" ]; then current="apply $_xk compose-recreate"; else current="apply $_xk compose-up"; fi
      die "command failed: pct exec $1 -- $(ct_up_argv "$_xj" "$_xc" "$_xs")" ;;
    *)
      _xk=$(cat -- "$_xd/k" "$_xd/uk" | head -n 1)
      current="install $_xk"
      die "cannot put the files into container $1 (pct exec: $_xs${_xf:+, $_xf})" ;;
  esac
}
