#!/bin/sh
# Deploy benchmark on loopback (issue 4): no-op switch vs bare `ssh true`, a one-artifact
# switch, 10 nodes in parallel vs one, and `stoa exec --all -- true` on the 10 vs one `ssh true`. Usage: bench/deploy.sh [path/to/stoa]
# Needs openssh-server (sshd), util-linux; run as root. Each node is a test node of
# scripts/stub-node (a test /etc/pve with pmxcfs's rules, the `pct` double) behind its own sshd.
set -eu
cd "$(dirname "$0")/.."
STOA=${1:-target/release/stoa}
STOA=$(realpath "$STOA")
W=$(mktemp -d)
cleanup() {
  for p in "$W"/*.pid; do kill "$(cat "$p")" 2>/dev/null || true; done
  for d in "$W"/n*; do [ -d "$d/bin" ] && scripts/stub-node --stop "$d" >/dev/null; done
  sleep 0.5; umount -l "$W"/n*/root/etc/pve 2>/dev/null || true; rm -rf "$W"
}
trap cleanup EXIT
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$W/client"
: > "$W/known_hosts"; : > "$W/empty"
start_node() { # $1 = index, $2 = port
  d="$W/n$1"; scripts/stub-node "$d" "pve$1" >/dev/null
  ssh-keygen -q -t ed25519 -N '' -f "$d/host"
  cp "$W/client.pub" "$d/ak"
  printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s/host\nAuthorizedKeysFile %s/ak\nPidFile none\nStrictModes no\nUsePAM no\nPermitRootLogin yes\nLogLevel ERROR\nMaxStartups 100\nSetEnv PATH=%s/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' "$2" "$d" "$d" "$d" > "$d/cfg"
  unshare -m sh -c "mount --bind $W/empty /root/.bashrc; mkdir -p /tmp/stoa-bench-root && mount --rbind $d/root /tmp/stoa-bench-root && exec /usr/sbin/sshd -D -e -f $d/cfg" 2>"$d/log" &
  echo $! > "$W/n$1.pid"
  printf '[127.0.0.1]:%s %s\n' "$2" "$(cat "$d/host.pub")" >> "$W/known_hosts"
}
P=$((20000 + $$ % 20000))
for i in 0 1 2 3 4 5 6 7 8 9; do start_node $i $((P + i)); done
sleep 1
mkdir -p "$W/p/hosts" "$W/p/modules"; printf '[project]\n' > "$W/p/stoa.toml"
host() { # $1 = name, $2 = port, $3 = text
  printf '#{ config: #{ networking: #{ hostname: "%s" }, files: #{ "/etc/motd": #{ text: "%s" }, "/etc/a": #{ text: "a" } }, deployment: #{ target_host: "127.0.0.1", target_port: %s } } }\n' "$1" "$3" "$2" > "$W/p/hosts/$1.rhai"
}
for i in 0 1 2 3 4 5 6 7 8 9; do host "h$i" $((P + i)) one; done
F="--yes --node-root /tmp/stoa-bench-root --known-hosts $W/known_hosts --identity $W/client"
now() { date +%s.%N; }
t() { s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo "$e - $s" | bc; }
avg() { n=$1; shift; tot=0; i=0; while [ $i -lt "$n" ]; do tot=$(echo "$tot + $(t "$@")" | bc); i=$((i+1)); done; echo "scale=4; $tot / $n" | bc; }
med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
"$STOA" -C "$W/p" switch h0 $F >/dev/null 2>&1
SSH=$(avg 10 ssh -o BatchMode=yes -o UserKnownHostsFile="$W/known_hosts" -i "$W/client" -p "$P" root@127.0.0.1 true)
NOOP=$(avg 10 "$STOA" -C "$W/p" switch h0 $F)
# Each changed case: the median of 5 runs, each with a new text.
ONE=$(for k in 1 2 3 4 5; do host h0 "$P" "one-$k"; t "$STOA" -C "$W/p" switch h0 $F; done | med)
for i in 1 2 3 4 5 6 7 8 9; do "$STOA" -C "$W/p" switch "h$i" $F >/dev/null 2>&1; done
SINGLE=$(for k in 1 2 3 4 5; do host h0 "$P" "single-$k"; t "$STOA" -C "$W/p" switch h0 $F; done | med)
TEN=$(for k in 1 2 3 4 5; do
  for i in 0 1 2 3 4 5 6 7 8 9; do host "h$i" $((P + i)) "ten-$k"; done
  t "$STOA" -C "$W/p" switch --all --parallel 10 $F
done | med)
# `stoa exec --all -- true` on the ten nodes against one `ssh … true`: medians of 10 each.
X="--node-root /tmp/stoa-bench-root --known-hosts $W/known_hosts --identity $W/client"
"$STOA" -C "$W/p" exec --all $X -- true >/dev/null 2>&1
SSHMED=$(for k in 1 2 3 4 5 6 7 8 9 10; do
  t ssh -o BatchMode=yes -o UserKnownHostsFile="$W/known_hosts" -i "$W/client" -p "$P" root@127.0.0.1 true
done | med)
EXEC=$(for k in 1 2 3 4 5 6 7 8 9 10; do t "$STOA" -C "$W/p" exec --all $X -- true; done | med)
# Fleet rollback: the ten hosts back to the release of their first switch, against one
# host's rollback; before each timed run a switch moves them forward again (not timed).
REL=$("$STOA" -C "$W/p" releases --all --json $X 2>/dev/null | python3 -c 'import json, sys; print([r for r in json.load(sys.stdin) if len(r["hosts"]) == 10][0]["id"])')
FLEET=$(for k in 1 2 3 4 5; do
  for i in 0 1 2 3 4 5 6 7 8 9; do host "h$i" $((P + i)) "fleet-$k"; done
  "$STOA" -C "$W/p" switch --all --parallel 10 $F >/dev/null 2>&1
  t "$STOA" -C "$W/p" rollback --release "$REL" --all $X
done | med)
BACK=$("$STOA" -C "$W/p" generations h0 --json $X 2>/dev/null | python3 -c 'import json, sys; g = json.load(sys.stdin)["generations"]; print(g[0]["number"])')
ONEBACK=$(for k in 1 2 3 4 5; do
  host h0 "$P" "back-$k"
  "$STOA" -C "$W/p" switch h0 $F >/dev/null 2>&1
  t "$STOA" -C "$W/p" rollback h0 --to "$BACK" $X
done | med)
echo "bare ssh true:            ${SSH}s (mean of 10)"
echo "no-op switch:             ${NOOP}s (mean of 10)  ratio $(echo "scale=2; $NOOP / $SSH" | bc) (target <= 1.5)"
echo "one-artifact switch:      ${ONE}s (median of 5)"
echo "single-node switch:       ${SINGLE}s (median of 5)"
echo "10-node parallel switch:  ${TEN}s (median of 5)  ratio $(echo "scale=2; $TEN / $SINGLE" | bc) (target <= 3)"
echo "exec --all -- true (10):  ${EXEC}s (median of 10)  vs ssh true ${SSHMED}s (median of 10)  ratio $(echo "scale=2; $EXEC / $SSHMED" | bc) (target <= 2)"
echo "fleet rollback (10):      ${FLEET}s (median of 5)  vs one rollback ${ONEBACK}s (median of 5)  ratio $(echo "scale=2; $FLEET / $ONEBACK" | bc) (target <= 3)"
