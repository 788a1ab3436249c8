#!/usr/bin/env bash
# down.sh: stops everything up.sh started and removes what it added to the host: processes (by pid
# with its recorded identity, and any left in the engine's mount namespace or under our state),
# the bridge, the iptables rules and chains the engine's CNI plugins made for our network, and
# ip_forward if we turned it on and nothing else needs it. Touches nothing else (testbed/hygiene.sh
# says how it knows). Keeps the cache.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=testbed/hygiene.sh
source "$TB_ROOT/testbed/hygiene.sh"

S=$NIGHTLY_STATE
[ -d "$S" ] || { log "not up (no $S)"; exit 0; }

# stop_pid PID [GRACE_SECONDS]: TERM, then KILL, a server of ours and what it started; a pid whose
# identity (pid, start time, boot, executable) is not the one recorded is never signalled.
stop_pid() { hy_stop_pid "$@"; }

# The engine's descendants, taken before it stops (they are reparented when it dies); then what is
# still ours: in the engine's mount namespace (our overlays), chrooted in our state, or rooted in
# ENGINE_ROOT while no other bed's engine uses it. Each signalled only while it is that process.
engine_kids=''
if [ -f "$S/engine.pid" ] && hy_identity "$(head -n1 "$S/engine.pid")"; then
  engine_kids=$(hy_descendants "$(head -n1 "$S/engine.pid")")
fi
if [ -f "$S/engine.pid" ]; then
  stop_pid "$(cat "$S/engine.pid")" 30
fi
for _ in 1 2 3; do
  procs=$({ hy_our_procs; [ -z "$engine_kids" ] || echo "$engine_kids"; } | while read -r p st; do
    if hy_alive "$p" "$st"; then echo "$p $st"; fi
  done)
  [ -z "$procs" ] && break
  hy_kill_list KILL <<<"$procs"
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

# The bridge, the iptables rules and chains the CNI plugins made for our network (only those),
# their lease and result files, and ip_forward (hygiene.sh: hy_net_cleanup).
hy_net_cleanup "$S"

# Keep what check-clean compares against (this run's only), then drop the run's state and claim.
rm -rf "$NIGHTLY_CACHE/last-run"
mkdir -p "$NIGHTLY_CACHE/last-run"
cp "$S"/ip_forward.before "$S"/chains.*.before "$S/engine.mntns" "$NIGHTLY_CACHE/last-run/" 2>/dev/null || true
[ ! -d "$S/hygiene" ] || cp -r "$S/hygiene" "$NIGHTLY_CACHE/last-run/"
rm -rf "$S"
hy_release
log "down"
