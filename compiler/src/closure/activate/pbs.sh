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
