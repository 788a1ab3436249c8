#!/usr/bin/env bash
# check-clean.sh: after `testbed-down`, fails if anything of ours is left on the host: a process in
# the engine's mount namespace (our overlays) or rooted in our state, our bridge, an iptables rule
# or chain our CNI network made (as hygiene.sh tells them from everyone else's), its lease files,
# ip_forward left on with nothing else that forwards, an overlay still mounted, our claim.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=testbed/hygiene.sh
source "$TB_ROOT/testbed/hygiene.sh"

L=$NIGHTLY_CACHE/last-run
bad=0
complain() { log "NOT CLEAN: $*"; bad=1; }
# Another checkout's bed may be up: its ports, bridge and rules look like ours; they are its own.
foreign=$(hy_foreign_bed || true)
[ -z "$foreign" ] || log "another checkout's test bed is up (${foreign//$'\t'/, }): its ports and network are not checked"

while read -r p _; do
  complain "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80))"
done < <(hy_our_procs)
for p in /proc/[0-9]*; do
  p=${p#/proc/}
  # Our servers name our state folder on their command line.
  # (A process that exits meanwhile has no cmdline left: skipped, quietly.)
  if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$NIGHTLY_STATE/"; then
    complain "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80))"
  fi
done
for port in "$TB_DOCKERHUB_PORT" "$TB_FAULTY_PORT" "$TB_FAULTY_CONTROL_PORT" "$TB_GITEA_PORT"; do
  [ -z "$foreign" ] || break
  if ss -Hltn "sport = :$port" | grep -q .; then complain "something still listens on port $port"; fi
done
# Our bridge, our CNI rules and chains, their files, ip_forward (hy_net_leftovers; nothing when
# another bed's engine uses our network name). ip_forward left on for another forwarding user is
# said, not a fault.
while IFS= read -r x; do complain "$x"; done < <(hy_net_leftovers "$L")
[ ! -f "$L/hygiene/ip_forward.kept" ] || log "ip_forward left on: other forwarding users $(cat "$L/hygiene/ip_forward.kept")"
# The deploy stage's servers (their worker processes rename themselves): nothing may still listen.
for port in "$TB_K8S_PORT" "$TB_ETCD_PORT" "$TB_PG_PORT" "$TB_PLUGINS_PORT"; do
  [ -z "$foreign" ] || break
  ss -ltnH "sport = :$port" 2>/dev/null | grep -q . && complain "a server still listens on port $port"
done
grep -E "nightly-(usr|etc|run)" /proc/mounts >/dev/null && complain "an overlay of ours is mounted on the host"
[ -d "$NIGHTLY_STATE" ] && complain "state folder $NIGHTLY_STATE still exists"
if [ -f "$TB_CLAIM" ] && hy_same_path "$(sed -n 's/^state=//p' "$TB_CLAIM")" "$NIGHTLY_STATE"; then
  complain "the host is still claimed for this bed ($TB_CLAIM)"
fi
[ $bad = 0 ] && log "clean: no process, bridge, iptables rule or chain, mount or state of ours is left"
exit $bad
