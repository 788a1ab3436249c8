#!/usr/bin/env bash
# down.sh: stops everything up.sh started and removes what it added to the host: processes (by pid,
# and any left in the engine's mount namespace or under our state), the bridge, the iptables rules
# and chains the engine's CNI plugins made, and ip_forward if we turned it on. Keeps the cache.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

S=$NIGHTLY_STATE
[ -d "$S" ] || { log "not up (no $S)"; exit 0; }

stop_pid() { # stop_pid PID [GRACE_SECONDS]
  local pid=$1 grace=${2:-10} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# Processes that belong to us: the engine's mount namespace, or a root/cwd under our folders
# (containers the engine started live in their own namespaces, rooted in the engine's state).
our_pids() {
  local mntns='' p ns root cwd
  [ -f "$S/engine.mntns" ] && mntns=$(cat "$S/engine.mntns")
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    ns=$(readlink "/proc/$p/ns/mnt" 2>/dev/null) || continue
    root=$(readlink "/proc/$p/root" 2>/dev/null) || root=
    cwd=$(readlink "/proc/$p/cwd" 2>/dev/null) || cwd=
    if { [ -n "$mntns" ] && [ "$ns" = "$mntns" ]; } ||
      [[ $root == "$ENGINE_ROOT"* || $root == "$S"* || $cwd == "$ENGINE_ROOT"* ]]; then
      echo "$p"
    fi
  done
}

if [ -f "$S/engine.pid" ]; then
  stop_pid "$(cat "$S/engine.pid")" 30
fi
for _ in 1 2 3; do
  pids=$(our_pids)
  [ -z "$pids" ] && break
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  sleep 0.5
done
# The registries, nginx and regfront's fronts (testbed/regfront.sh) all leave registry-*.pid.
for f in "$S"/registry-*.pid; do
  [ -f "$f" ] && stop_pid "$(cat "$f")" 5
done
# The deploy stage's servers (k8s.sh, pulumi-state.sh): kwok and the control plane before etcd.
for n in kwok kube-scheduler kube-controller-manager kube-apiserver etcd plugins postgres; do
  [ -f "$S/servers/$n.pid" ] && stop_pid "$(cat "$S/servers/$n.pid")" 10
done

# The bridge and whatever CNI wrote to iptables for our network.
ip link del "${TB_NET_NAME}0" 2>/dev/null || true
for t in filter nat; do
  before=$S/chains.$t.before
  [ -f "$before" ] || continue
  new_chains=$(iptables -t "$t" -S | awk '$1=="-N"{print $2}' | grep -vxF -f "$before" || true)
  # Rules that jump to a chain we added, or that name our bridge or subnet, in any chain.
  iptables -t "$t" -S | { grep -E '^-A ' || true; } | while read -r rule; do
    drop=0
    for c in $new_chains; do [[ " $rule " == *" -j $c "* ]] && drop=1; done
    [[ $rule == *"${TB_NET_NAME}0"* || $rule == *"$TB_NET_CIDR"* ]] && drop=1
    if [ $drop = 1 ]; then
      # shellcheck disable=SC2086
      eval "iptables -t $t -D ${rule#-A }" 2>/dev/null || true
    fi
  done
  for c in $new_chains; do iptables -t "$t" -F "$c" 2>/dev/null || true; done
  for c in $new_chains; do iptables -t "$t" -X "$c" 2>/dev/null || true; done
done
if [ -f "$S/ip_forward.before" ]; then
  cat "$S/ip_forward.before" >/proc/sys/net/ipv4/ip_forward
fi

# Keep what check-clean compares against, then drop the run's state.
mkdir -p "$NIGHTLY_CACHE/last-run"
cp "$S"/ip_forward.before "$S"/chains.*.before "$S/engine.mntns" "$NIGHTLY_CACHE/last-run/" 2>/dev/null || true
rm -rf "$S"
log "down"
