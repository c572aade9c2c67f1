# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- Proxmox Backup Server datastores ----------------------------------------
# A datastore is a directory with a chunk store (`.chunks/0000`…`ffff`), so
# it is made by `proxmox-backup-manager datastore create`, never by writing
# datastore.cfg. PBS_PLAN compares the datastores the generation declares
# (D), those the previous one declared (P) and the node's datastore.cfg (L),
# and prints one `proxmox-backup-manager datastore` argument vector a line,
# tab-separated: `create NAME PATH`, `update NAME --KEY VALUE… --delete
# KEY…`, `remove NAME` (the entry; its data stays), or `fail WHY`. stoa owns
# `comment` and `gc-schedule` of its datastores; other keys (set in the UI)
# stay.
PBS_PLAN='
function word(line,   t) { t = line; sub(/^[ \t]+/, "", t); sub(/[ \t].*$/, "", t); return t }
function rest(line,   t) { t = line; sub(/^[ \t]+[^ \t]+[ \t]*/, "", t); return t }
$0 ~ /^[ \t]*$/ || $0 ~ /^#/ { next }
$0 !~ /^[ \t]/ { id = substr($0, index($0, ": ") + 2); sub(/[ \t]+$/, "", id)
  if (FILENAME == D) { d[id] = 1; order[++n] = id } else if (FILENAME == P) p[id] = 1; else l[id] = 1
  next }
{ k = word($0); v = rest($0)
  if (FILENAME == D) dv[id, k] = v; else if (FILENAME == P) pv[id, k] = v; else lv[id, k] = v }
END {
  for (i = 1; i <= n; i++) {
    id = order[i]
    if (!(id in l)) { print "create\t" id "\t" dv[id, "path"]; lv[id, "path"] = dv[id, "path"] }
    else if (lv[id, "path"] != dv[id, "path"]) { print "fail\tdatastore " id " is at " lv[id, "path"] " on the node and at " dv[id, "path"] " in the sources: stoa does not move a datastore"; continue }
    u = ""
    split("comment gc-schedule", keys, " ")
    for (j = 1; j <= 2; j++) {
      k = keys[j]
      if ((id, k) in dv) { if (!((id, k) in lv) || lv[id, k] != dv[id, k]) u = u "\t--" k "\t" dv[id, k] }
      else if (((id, k) in pv) && ((id, k) in lv)) u = u "\t--delete\t" k
    }
    if (u != "") print "update\t" id u
  }
  for (id in p) if (!(id in d) && (id in l)) print "remove\t" id
}'
# Brings the node's datastores to SP's (with an empty SP, removes the
# entries that WAS declared).
pbs_datastores() { # KEY SP [WAS]
  _bk=$1
  if [ $# -gt 2 ]; then _bw=$3; else _bw=$(prev_sp "$1"); _bw=${_bw:+$S/$_bw}; fi
  _bn=${2:+$S/$2}
  _bl=$R/etc/proxmox-backup/datastore.cfg
  [ -e "$_bl" ] || _bl=/dev/null
  _bo=$(awk -v D="${_bn:-/dev/null}" -v P="${_bw:-/dev/null}" "$PBS_PLAN" \
    "${_bn:-/dev/null}" "${_bw:-/dev/null}" "$_bl") || die "cannot read $_bl"
  case "$NL$_bo" in
    *"${NL}fail$TAB"*) die "$(printf '%s\n' "$_bo" | awk -F '\t' '$1 == "fail" { print $2; exit }')" ;;
  esac
  while IFS= read -r _bline; do
    [ -n "$_bline" ] || continue
    set -f
    _bifs=$IFS
    IFS=$TAB
    # shellcheck disable=SC2086 # one argument vector, tab-separated
    set -- $_bline
    IFS=$_bifs
    set +f
    step "apply $_bk $1 $2"
    [ "$1" != create ] || [ "$rec" = no ] || bk pbs-created "$2"
    run proxmox-backup-manager datastore "$@"
  done <<PBS
$_bo
PBS
}
# --- Proxmox Backup Server users, permissions and passwords -----------------
# SP is a template of `user ID COMMENT|- PASSWORD` and `acl PATH ROLE
# AUTH-ID` lines, filled into the private work folder; a missing user is
# made with `proxmox-backup-manager user create` (PBS offers no way to give
# its CLI a password but the argument vector), its password hashed with
# `openssl passwd -6 -stdin` and written into shadow.json as PBS writes it
# (under shadow.json.lock, temporary and rename, 0600), only when the hash
# there does not match; a permission missing from acl.cfg is set with
# `acl update`. Passwords never leave files and pipes.
SHADOW='
function pairs(line,   s, q) {
  while (match(line, /"[^"]*"[ \t]*:[ \t]*"[^"]*"/)) {
    s = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
    split(s, q, "\""); if (!(q[2] in h)) order[++n] = q[2]; h[q[2]] = q[4]
  }
}
{ pairs($0) }
END {
  if (name != "") { if (!(name in h)) order[++n] = name; h[name] = hash }
  if (mode == "get") { if (want in h) print h[want]; exit }
  printf "{\n"
  for (i = 1; i <= n; i++) printf "  \"%s\": \"%s\"%s\n", order[i], h[order[i]], (i < n ? "," : "")
  printf "}\n"
}'
pbs_password() { # USERID PASSWORD
  _sn=${1%@pbs}
  _sf=$R/etc/proxmox-backup/shadow.json
  _sl=/dev/null
  [ ! -f "$_sf" ] || _sl=$_sf
  _sc=$(awk -v mode=get -v want="$_sn" "$SHADOW" "$_sl") || return 1
  case $_sc in
    '$6$'*)
      _ss=${_sc#\$6\$}; _ss=${_ss%%\$*}
      [ "$(printf '%s' "$2" | openssl passwd -6 -salt "$_ss" -stdin)" != "$_sc" ] || return 0 ;;
  esac
  step "apply $_uk password $1"
  [ "$mode" != dry ] || { echo "stoa: would set the password of $1"; return 0; }
  _sh=$(printf '%s' "$2" | openssl passwd -6 -stdin) || return 1
  case $_sh in '$6$'*) ;; *) return 1 ;; esac
  ( flock -w 10 9 || exit 1
    _st=$_sf.tmp.$$
    if ( umask 077 && awk -v name="$_sn" -v hash="$_sh" "$SHADOW" "$_sl" >"$_st" ) && mv -f -- "$_st" "$_sf"; then exit 0; fi
    rm -f -- "$_st"
    exit 1
  ) 9>>"$_sf.lock"
}
pbs_users() { # KEY SP PART...
  _uk=$1 _us=$2
  shift 2
  _uc=$R/etc/proxmox-backup/user.cfg
  _ua=$R/etc/proxmox-backup/acl.cfg
  _uw=${SEC%/*}/.work
  if [ "$mode" != dry ]; then mkdir -p -- "$_uw" && chmod 0700 "$_uw" || die "cannot create $_uw"; fi
  _ut=$_uw/pbs-users.$$
  if [ "$mode" = dry ]; then echo "stoa: would create the PBS users, set their passwords and permissions"; return 0; fi
  fill "$_us" "$_ut" "$@" || { rm -f -- "$_ut"; die "cannot fill the PBS users"; }
  while IFS="$TAB" read -r _uy _u1 _u2 _u3; do
    case $_uy in
      user)
        if ! awk -v id="$_u1" '$0 == "user: " id { found = 1 } END { exit !found }' "$_uc" 2>/dev/null; then
          step "apply $_uk user $_u1"
          if [ "$_u2" = - ]; then
            run proxmox-backup-manager user create "$_u1"
          else
            run proxmox-backup-manager user create "$_u1" --comment "$_u2"
          fi
        fi
        pbs_password "$_u1" "$_u3" || { rm -f -- "$_ut"; die "cannot set the password of $_u1"; } ;;
      acl)
        if ! awk -F: -v p="$_u1" -v r="$_u2" -v u="$_u3" \
          '$1 == "acl" && $3 == p && ("," $4 ",") ~ ("," u ",") && ("," $5 ",") ~ ("," r ",") { found = 1 } END { exit !found }' \
          "$_ua" 2>/dev/null; then
          step "apply $_uk acl $_u1 $_u2 $_u3"
          run proxmox-backup-manager acl update "$_u1" "$_u2" --auth-id "$_u3"
        fi ;;
    esac
  done <"$_ut"
  rm -f -- "$_ut"
}
