# shellcheck shell=sh
# Part of `activate` (compiler/src/closure/activate/, in the order of ACTIVATE_HEAD in mod.rs).
# --- The activation: undo, or the generated blocks that follow ----------------
if [ "$mode" = undo ]; then
  undo
  exit 0
fi
[ -f "$self/artifacts.tsv" ] || die "$self/artifacts.tsv is missing"
if [ "$rec" = yes ]; then
  mkdir -p -- "$B" && chmod 0700 "$B" && : >>"$B/index" || die "cannot create the backup folder $B"
  bn=$(wc -l <"$B/index") || die "cannot read $B/index"
fi
diff_prev
echo "stoa: activating $self ($mode)"
removals "compose ct-file"
