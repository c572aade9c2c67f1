//! The node's live state (`live_read`), for the scripts that read it (`session`, `show`,
//! `live`): POSIX sh functions that follow [`super::scripts::PRELUDE`].

/// `live_read` and its helpers (docs/node-protocol.md, "Live state").
pub const LIVE_FNS: &str = r#"NL='
'
# live_read CLOSURE [VMID...]: the node's live state of everything CLOSURE's artifacts.tsv
# placed, and of the containers VMID... (docs/node-protocol.md, "Live state"). Tab-separated:
# `live KEY SP SHA file SHA MODE OWNER GROUP|missing|other WHAT|unknown WHY|config VMID`
# (SP and SHA: the artifact there, from artifacts.tsv), `ct VMID
# running|stopped|absent` with `conf VMID LINE` per config line, `body KEY BASE64` for a
# file that differs from the closure's (at most 64 KiB) and for every section-config file,
# `filled KEY SHA` for each file activation filled from secrets (what it installed),
# `unmanaged VMID` for each container of the node that the generation does not declare.
# A constant number of processes; a running container's files are read through
# /proc/PID/root of a process of its cgroup (lxc-info, Proxmox's own find_lxc_pid, only
# where the cgroup does not say); no pct.
live_read() {
  _lc=$1; shift
  _lt=$(mktemp -d "${TMPDIR:-/tmp}/stoa-live.XXXXXX") || return 0
  : >"$_lt/reg"; _lv=" $* "; _lpid=" "
  if [ -n "$_lc" ] && [ -f "$ST/$_lc/artifacts.tsv" ]; then
    # One awk turns the artifacts into calls (every word quoted), which run as builtins:
    # a shell `read` loop would read the file a byte at a time.
    _lcalls=$(awk -F "$TAB" -v sq="'" '
      function q(s,   n, p, i, o) { n = split(s, p, sq); o = p[1]; for (i = 2; i <= n; i++) o = o sq "\\" sq sq p[i]; return sq o sq }
      { a = q($1) " " q($2) " " q($3) }
      $4 == "host-file" { print "live_at " a " \"$R\"" q($5) " 0" }
      $4 == "sections" { print "live_at " a " \"$R\"" q($5) " 1" }
      $4 == "network" { print "live_at " a " \"$R\"/etc/network/interfaces 0" }
      $4 == "ct-config" { print "live_cfg " a " " q($5) }
      $4 == "ct-file" { print "live_ct " a " " q($5) " " q($6) }
      $4 == "compose" { print "live_ct " a " " q($5) " " q($7) }' "$ST/$_lc/artifacts.tsv") || _lcalls=''
    eval "$_lcalls"
  fi
  if [ -s "$_lt/reg" ]; then
    cut -f4 "$_lt/reg" >"$_lt/paths"
    xargs -d '\n' sha256sum -- <"$_lt/paths" >"$_lt/sums" 2>/dev/null || true
    xargs -d '\n' stat -c '%a %U %G %n' -- <"$_lt/paths" >"$_lt/modes" 2>/dev/null || true
    awk -F "$TAB" -v sums="$_lt/sums" -v modes="$_lt/modes" -v send="$_lt/send" -v filled="$S/filled.tsv" '
      BEGIN {
        while ((getline l < filled) > 0) { split(l, w, "\t"); secret[w[1]] = 1 }
        while ((getline l < sums) > 0) {
          e = 0; if (substr(l, 1, 1) == "\\") { l = substr(l, 2); e = 1 }
          n = substr(l, 67); if (e) gsub(/\\\\/, "\\", n); h[n] = substr(l, 1, 64)
        }
        while ((getline l < modes) > 0) {
          split(l, w, " "); n = l; for (i = 1; i <= 3; i++) n = substr(n, index(n, " ") + 1)
          m[n] = w[1] "\t" w[2] "\t" w[3]
        }
      }
      {
        if (!($4 in h) || !($4 in m)) { print "stoa: live\t" $1 "\t" $2 "\t" $3 "\tother\tunreadable"; next }
        print "stoa: live\t" $1 "\t" $2 "\t" $3 "\tfile\t" h[$4] "\t" m[$4]
        if (!($1 in secret) && ($5 == 1 || h[$4] != $3)) print $1 "\t" $4 > send
      }' "$_lt/reg"
    if [ -f "$_lt/send" ]; then
      while IFS="$TAB" read -r _k _p; do
        [ "$(stat -c %s -- "$_p" 2>/dev/null || echo 99999999)" -le 65536 ] || continue
        printf 'stoa: body\t%s\t%s\n' "$_k" "$(base64 -w0 <"$_p" 2>/dev/null)"
      done <"$_lt/send"
    fi
  fi
  # The configs, read in their folder (on pmxcfs every path component is a lookup): one
  # listing says which exist, one awk reads them all.
  if [ -n "${_lv# }" ] || [ -d "$R/etc/pve/lxc/" ]; then
    _lhere=$PWD; _lhave=" "
    if cd "$R/etc/pve/lxc/" 2>/dev/null; then
      for _f in *.conf; do
        case $_f in '*.conf') [ -e "$_f" ] || break ;; esac
        _lhave="$_lhave${_f%.conf} "
      done
    fi
    _lconfs=''
    for _v in $_lv; do
      case $_v in '' | *[!0-9]*) continue ;; esac
      case $_lhave in *" $_v "*) ;; *) printf 'stoa: ct\t%s\tabsent\n' "$_v"; continue ;; esac
      if [ -d "$R/sys/fs/cgroup/lxc/$_v" ]; then _st=running; else _st=stopped; fi
      printf 'stoa: ct\t%s\t%s\n' "$_v" "$_st"
      _lconfs="$_lconfs$_v.conf$NL"
    done
    # Containers of this node that the generation does not declare (made by hand, or
    # dropped from the sources and kept): not stoa's.
    for _v in $_lhave; do
      case $_lv in *" $_v "*) ;; *) printf 'stoa: unmanaged\t%s\n' "$_v" ;; esac
    done
    if [ -n "$_lconfs" ]; then
      printf '%s' "$_lconfs" | xargs -d '\n' awk 'FNR == 1 { v = FILENAME; sub(/\.conf$/, "", v) }
        FNR <= 5000 { print "stoa: conf\t" v "\t" $0 }' 2>/dev/null || true
    fi
    cd "$_lhere" || return 0
  fi
  rm -rf "$_lt"
  # What activation installed at each filled key (its template is in the store, not its bytes).
  if [ -f "$S/filled.tsv" ]; then sed 's/^/stoa: filled\t/' "$S/filled.tsv"; fi
}
# live_cfg KEY SP SHA VMID: a container's config (its state follows, with the others').
live_cfg() {
  printf 'stoa: live\t%s\t%s\t%s\tconfig\t%s\n' "$1" "$2" "$3" "$4"
  case $_lv in *" $4 "*) ;; *) _lv="$_lv$4 " ;; esac
}
# live_at KEY SP SHA PATH SECTIONS: a regular file is queued for hashing, anything else said.
live_at() {
  if [ -L "$4" ]; then printf 'stoa: live\t%s\t%s\t%s\tother\tlink\n' "$1" "$2" "$3"
  elif [ -f "$4" ]; then printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$_lt/reg"
  elif [ -d "$4" ]; then printf 'stoa: live\t%s\t%s\t%s\tother\tdirectory\n' "$1" "$2" "$3"
  elif [ -e "$4" ]; then printf 'stoa: live\t%s\t%s\t%s\tother\tspecial\n' "$1" "$2" "$3"
  else printf 'stoa: live\t%s\t%s\t%s\tmissing\n' "$1" "$2" "$3"; fi
}
# live_ct KEY SP SHA VMID PATH: a container's file, through the root of its init process; a
# link on the way is not followed (it would resolve on the node, outside the container).
live_ct() {
  if [ ! -d "$R/sys/fs/cgroup/lxc/$4" ]; then
    printf 'stoa: live\t%s\t%s\t%s\tunknown\tcontainer %s is stopped\n' "$1" "$2" "$3" "$4"; return 0
  fi
  case $_lpid in
    *" $4="*) _pid=${_lpid#*" $4="}; _pid=${_pid%% *} ;;
    *) _pid=''
       # A process of the container's own cgroup (Proxmox's layout: lxc/VMID/ns, systemd's
       # init in ns/init.scope) shares its root; read without a process. Else lxc-info.
       for _cp in "$R/sys/fs/cgroup/lxc/$4/ns/init.scope/cgroup.procs" "$R/sys/fs/cgroup/lxc/$4/ns/cgroup.procs"; do
         if [ -r "$_cp" ] && read -r _pid <"$_cp" && [ -n "$_pid" ]; then break; fi
         _pid=''
       done
       if [ -z "$_pid" ]; then
         _pid=$(lxc-info -n "$4" -p 2>/dev/null) || _pid=''
         _pid=${_pid##*[!0-9]}
       fi
       _lpid="$_lpid$4=$_pid " ;;
  esac
  case $_pid in
    '' | *[!0-9]*) printf 'stoa: live\t%s\t%s\t%s\tunknown\tno init process of container %s\n' "$1" "$2" "$3" "$4"; return 0 ;;
  esac
  _at="$R/proc/$_pid/root"; _rest=${5#/}
  while :; do
    case $_rest in
      */*) _at="$_at/${_rest%%/*}"; _rest=${_rest#*/}
        if [ -L "$_at" ]; then printf 'stoa: live\t%s\t%s\t%s\tother\tlink\n' "$1" "$2" "$3"; return 0; fi ;;
      *) break ;;
    esac
  done
  live_at "$1" "$2" "$3" "$_at/$_rest" 0
}
"#;
