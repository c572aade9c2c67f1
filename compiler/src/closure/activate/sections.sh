# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- Section-config files ----------------------------------------------------
# storage.cfg, jobs.cfg, user.cfg, …: Proxmox's own tools edit one section
# at a time, so stoa owns only the sections its generation declares (by id)
# and the keys it sets in them. SECTIONS prints the live file L with D's
# sections merged in: an owned section gets D's keys in place of its own,
# loses the keys P (the previous generation) set and D does not, and keeps
# every other line; a section P declared and D does not is dropped; D's new
# sections go at the end; every other section stays byte for byte. Exits 3
# when a section id has another type on the node. Files: D, P, L.
SECTIONS='
function word(line,   t) { t = line; sub(/^[ \t]+/, "", t); sub(/[ \t].*$/, "", t); return t }
function header(line) { T = substr(line, 1, index(line, ": ") - 1); I = substr(line, index(line, ": ") + 2); sub(/[ \t]+$/, "", I) }
FILENAME != L {
  if ($0 ~ /^[ \t]*$/) { cur = ""; next }
  if ($0 ~ /^#/) next
  if ($0 ~ /^[ \t]/) {
    k = word($0)
    if (FILENAME == D) { dn[cur]++; dk[cur, dn[cur]] = k; dl[cur, dn[cur]] = $0; dhas[cur, k] = 1 } else phas[cur, k] = 1
    next
  }
  header($0); cur = I
  if (FILENAME == D) { dtype[I] = T; dhead[I] = $0; dorder[++nd] = I } else powned[I] = 1
  next
}
# The live file, as blocks: sections (bid[b] = id) and runs of other lines.
$0 ~ /^[ \t]*$/ { open = 0; next }
$0 ~ /^[ \t]/ && open { nl[nb]++; line[nb, nl[nb]] = $0; next }
$0 ~ /^#/ || $0 ~ /^[ \t]/ || index($0, ": ") == 0 { nb++; bid[nb] = ""; nl[nb] = 1; line[nb, 1] = $0; open = 0; next }
{ header($0); nb++; bid[nb] = I; btype[nb] = T; nl[nb] = 1; line[nb, 1] = $0; seen[I] = 1; open = 1 }
function emit(text) { if (out++) printf "\n"; printf "%s", text }
END {
  for (b = 1; b <= nb; b++) {
    id = bid[b]; text = ""
    if (id != "" && (id in dtype)) {
      if (btype[b] != dtype[id]) { printf "section %s is a %s on the node and a %s in the sources\n", id, btype[b], dtype[id] > "/dev/stderr"; exit 3 }
      text = dhead[id] "\n"
      for (i = 2; i <= nl[b]; i++) {
        k = word(line[b, i])
        if ((id, k) in dhas) { for (j = 1; j <= dn[id]; j++) if (dk[id, j] == k) text = text dl[id, j] "\n"; put[id, k] = 1 }
        else if (!((id, k) in phas)) text = text line[b, i] "\n"
      }
      for (j = 1; j <= dn[id]; j++) if (!((id, dk[id, j]) in put)) text = text dl[id, j] "\n"
    } else if (id != "" && (id in powned)) {
      continue
    } else {
      for (i = 1; i <= nl[b]; i++) text = text line[b, i] "\n"
    }
    emit(text)
  }
  for (n = 1; n <= nd; n++) {
    id = dorder[n]
    if (id in seen) continue
    text = dhead[id] "\n"
    for (j = 1; j <= dn[id]; j++) text = text dl[id, j] "\n"
    emit(text)
  }
}'
# Merges the sections of SP into DEST (see SECTIONS), installed with MODE,
# OWNER and GROUP; with an empty SP, removes the sections that the previous
# generation's WAS declared.
merge_sections() { # KEY SP DEST MODE OWNER GROUP [WAS]
  if [ "$mode" = dry ]; then echo "stoa: would merge the sections of $1 into $3"; return 0; fi
  _md=$R$3
  if [ $# -gt 6 ]; then _mw=$7; else _mw=$(prev_sp "$1"); _mw=${_mw:+$S/$_mw}; fi
  _mn=${2:+$S/$2}
  save "$3"
  _ml=$_md
  [ -e "$_md" ] || _ml=/dev/null
  _mt=$(mktemp) || die "cannot create a temporary file"
  if ! awk -v D="${_mn:-/dev/null}" -v P="${_mw:-/dev/null}" -v L="$_ml" "$SECTIONS" \
    "${_mn:-/dev/null}" "${_mw:-/dev/null}" "$_ml" >"$_mt"; then
    rm -f -- "$_mt"
    die "cannot merge the sections of $1 into $3"
  fi
  ( put_file "$_mt" "$3" "$4" "$5" "$6" )
  _mr=$?
  rm -f -- "$_mt"
  [ "$_mr" = 0 ] || exit "$_mr"
}
# Undo an artifact of the previous closure that is gone now.
