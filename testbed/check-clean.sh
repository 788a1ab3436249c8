#!/usr/bin/env bash
# check-clean.sh: after `testbed-down`, fails if anything of ours is left on the host: a process in
# the engine's mount namespace or rooted in our state, our bridge, an iptables rule naming our
# network, a CNI chain that was not there before, ip_forward changed, or an overlay still mounted.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

L=$NIGHTLY_CACHE/last-run
bad=0
complain() { log "NOT CLEAN: $*"; bad=1; }

mntns=$(cat "$L/engine.mntns" 2>/dev/null || true)
for p in /proc/[0-9]*; do
  p=${p#/proc/}
  ns=$(readlink "/proc/$p/ns/mnt" 2>/dev/null) || continue
  root=$(readlink "/proc/$p/root" 2>/dev/null) || root=
  if { [ -n "$mntns" ] && [ "$ns" = "$mntns" ]; } || [[ $root == "$ENGINE_ROOT"* || $root == "$NIGHTLY_STATE"* ]]; then
    complain "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80))"
  fi
  # Our servers name our state folder on their command line.
  if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$NIGHTLY_STATE/"; then
    complain "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80))"
  fi
done
ip link show "${TB_NET_NAME}0" >/dev/null 2>&1 && complain "bridge ${TB_NET_NAME}0 exists"
for port in "$TB_DOCKERHUB_PORT" "$TB_FAULTY_PORT" "$TB_FAULTY_CONTROL_PORT" "$TB_GITEA_PORT"; do
  if ss -Hltn "sport = :$port" | grep -q .; then complain "something still listens on port $port"; fi
done
for t in filter nat; do
  if iptables -t "$t" -S | grep -F -e "${TB_NET_NAME}0" -e "$TB_NET_CIDR" >/dev/null; then
    complain "iptables -t $t has rules naming ${TB_NET_NAME}0 or $TB_NET_CIDR"
  fi
  if [ -f "$L/chains.$t.before" ]; then
    extra=$(iptables -t "$t" -S | awk '$1=="-N"{print $2}' | grep -vxF -f "$L/chains.$t.before" | grep '^CNI' || true)
    [ -z "$extra" ] || complain "iptables -t $t chains left: $extra"
  fi
done
if [ -f "$L/ip_forward.before" ] && [ "$(cat /proc/sys/net/ipv4/ip_forward)" != "$(cat "$L/ip_forward.before")" ]; then
  complain "ip_forward is $(cat /proc/sys/net/ipv4/ip_forward), was $(cat "$L/ip_forward.before")"
fi
# The deploy stage's servers (their worker processes rename themselves): nothing may still listen.
for port in "$TB_K8S_PORT" "$TB_ETCD_PORT" "$TB_PG_PORT" "$TB_PLUGINS_PORT"; do
  ss -ltnH "sport = :$port" 2>/dev/null | grep -q . && complain "a server still listens on port $port"
done
grep -E "nightly-(usr|etc|run)" /proc/mounts >/dev/null && complain "an overlay of ours is mounted on the host"
[ -d "$NIGHTLY_STATE" ] && complain "state folder $NIGHTLY_STATE still exists"
[ $bad = 0 ] && log "clean: no process, bridge, iptables rule or chain, mount or state of ours is left"
exit $bad
