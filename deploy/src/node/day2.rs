//! The node side of the day-2 commands: a boot id and a reboot (`stoa reboot`), a command on
//! the node or in a container (`stoa exec`). POSIX sh after [`super::scripts::PRELUDE`].

/// `boot`: the node's boot id (`boot BOOT_ID GENERATION`; `-` when it has none).
pub const BOOT: &str = r#"b=$(cat "$R/proc/sys/kernel/random/boot_id" 2>/dev/null) || b=-
cur=$(current_gen)
say "boot ${b:--} ${cur:--}"
"#;

/// `reboot`: reboots the node a second after answering (the connection goes with it).
pub const REBOOT: &str = r#"setsid sh -c 'sleep 1; exec systemctl reboot' </dev/null >/dev/null 2>&1 &
say rebooting
"#;

/// `stoa exec`: `SECS CT ARGV…` runs ARGV on the node, or with a VMID as CT inside that
/// container through `pct exec CT -- ARGV…`, with `STOA_ROOT` as health checks have it;
/// with SECS > 0 under `timeout -k 5 SECS` (the deployer gives up a second earlier). A
/// container that does not exist or is stopped is refused before anything runs (Proxmox's
/// own check, `pct exec` refuses a stopped one). Everything before the line `stoa: exec` is
/// the script's (`stoa: refused WHY`); everything after it, and all of stderr, the command's.
pub const EXEC: &str = r#"SECS=$1; CT=$2; shift 2
if [ -n "$CT" ]; then
  case $CT in *[!0-9]*) say "refused bad vmid"; exit 1 ;; esac
  [ -f "$R/etc/pve/lxc/$CT.conf" ] || { say "refused container $CT does not exist on the node"; exit 1; }
  [ -d "$R/sys/fs/cgroup/lxc/$CT" ] || { say "refused container '$CT' not running!"; exit 1; }
  set -- pct exec "$CT" -- "$@"
fi
say exec
STOA_ROOT="${R:-/}"; export STOA_ROOT
if [ "$SECS" -gt 0 ]; then exec timeout -k 5 "$SECS" "$@"; fi
exec "$@"
"#;
