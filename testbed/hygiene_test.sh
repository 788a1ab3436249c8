#!/usr/bin/env bash
# shellcheck disable=SC2016 # check_sh and bash -c take single-quoted code, expanded when run.
# hygiene_test.sh: tests of testbed/hygiene.sh (what the test bed may touch), run by `make unit`.
# Needs root, no engine, and touches nothing of the host's or of a running test bed:
#   - network cases run in throwaway network namespaces (`unshare --net`: iptables, links and
#     net.ipv4.ip_forward are per namespace, and nothing is left in /run/netns), where the engine's
#     real CNI plugins (Debian's bridge and firewall, the conflist dagger writes) make "our" rules
#     next to planted Docker, libvirt and Tailscale chains, another CNI network and other bridges;
#   - process cases signal only `sleep`s this script started, with fake state folders;
#   - guard cases use a fake claim file and a fake engine process name, and a copy of the checkout.
# `bash testbed/hygiene_test.sh [CASE...]` runs all cases or the named ones.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "$(id -u)" != 0 ]; then echo "hygiene_test: SKIP (needs root, as the test bed does)"; exit 0; fi
for tool in unshare iptables ip /usr/lib/cni/bridge /usr/lib/cni/firewall /bin/busybox; do
  command -v "$tool" >/dev/null || { echo "hygiene_test: SKIP (no $tool: testbed/install-deps.sh)"; exit 0; }
done

# Everything the library may touch is redirected under one temporary folder.
if [ -z "${HY_TEST_TMP:-}" ]; then
  HY_TEST_TMP=$(mktemp -d /tmp/hygiene-test.XXXXXX)
  HY_TEST_HOST_NETNS=$(readlink /proc/self/ns/net)
  export HY_TEST_TMP HY_TEST_HOST_NETNS
  HY_TEST_OWNER=1
fi
T=$HY_TEST_TMP
export NIGHTLY_STATE=$T/state NIGHTLY_CACHE=$T/cache TB_CLAIM=$T/claim HY_CNI_LIB=$T/cni
# A process name no real engine has: the fake engines below, never the host's.
export HY_ENGINE_COMM=hyeng$$
[ -n "${HY_TEST_ENGINE_COMM:-}" ] && HY_ENGINE_COMM=$HY_TEST_ENGINE_COMM
export HY_TEST_ENGINE_COMM=$HY_ENGINE_COMM
export TB_NET_NAME=nightlytb TB_NET_CIDR=10.213.0.0/16
# shellcheck source=testbed/lib.sh
source "$HERE/lib.sh"
# shellcheck source=testbed/hygiene.sh
source "$HERE/hygiene.sh"

FAILS=0
MINE=() # pids this script started (the only ones it ever signals)
fail() { echo "    FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "    ok: $*"; }
check() { # check DESCRIPTION [!] CMD...
  local d=$1 neg=0; shift
  if [ "$1" = '!' ]; then neg=1; shift; fi
  local r=0
  "$@" || r=1
  if [ $r = $neg ]; then ok "$d"; else fail "$d"; fi
}
# check_sh DESCRIPTION 'SHELL EXPRESSION' (the test's own expressions only).
check_sh() {
  if eval "$2"; then ok "$1"; else fail "$1"; fi
}
has_rule() { iptables -t "$1" -S 2>/dev/null | grep -qxF -- "$2"; }
no_rule_matching() { ! iptables -t "$1" -S 2>/dev/null | grep -qE -- "$2"; }
cleanup_mine() {
  local p kids
  # What they started is theirs too (this script's).
  kids=$(hy_descendants "${MINE[@]}" | awk '{print $1}')
  for p in "${MINE[@]}" $kids; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${MINE[@]}"; do wait "$p" 2>/dev/null || true; done
  MINE=()
}
finish() {
  cleanup_mine
  if [ -n "${HY_TEST_OWNER:-}" ]; then rm -rf "$T"; fi
}
trap finish EXIT

# ---------------------------------------------------------------------------------------------
# Network cases: each runs in its own network namespace (this script, re-run under unshare).

in_netns() { # in_netns CASE: runs CASE in a fresh network namespace
  unshare --net bash "$HERE/hygiene_test.sh" "__netns_$1"
}
assert_isolated() {
  if [ "$(readlink /proc/self/ns/net)" = "$HY_TEST_HOST_NETNS" ]; then
    echo "    REFUSED: a network case would run in the host's network namespace"
    exit 1
  fi
  ip link set lo up
}
fresh_state() {
  rm -rf "$NIGHTLY_STATE" "$HY_CNI_LIB"
  mkdir -p "$NIGHTLY_STATE"
}

# holder: a process in a new network namespace, the "container" a CNI ADD configures.
new_holder() {
  local p i
  unshare --net sleep 600 &
  p=$!
  MINE+=("$p")
  for ((i = 0; i < 100; i++)); do
    [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ] && break
    sleep 0.02
  done
  HOLDER=$p
}

# cni_add NAME BRIDGE CIDR ID: what the engine's libcni does for a container: bridge (ipMasq,
# isDefaultGateway, host-local IPAM) then firewall, as in dagger's conflist; the result cached as
# libcni does.
cni_add() {
  local name=$1 br=$2 cidr=$3 id=$4 res env
  new_holder
  env=(CNI_CONTAINERID="$id" CNI_NETNS="/proc/$HOLDER/ns/net" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni)
  res=$(env CNI_COMMAND=ADD "${env[@]}" /usr/lib/cni/bridge <<JSON
{"cniVersion":"0.4.0","name":"$name","type":"bridge","bridge":"$br","isDefaultGateway":true,
 "ipMasq":true,"hairpinMode":true,
 "ipam":{"type":"host-local","dataDir":"$HY_CNI_LIB/networks","ranges":[[{"subnet":"$cidr"}]]}}
JSON
  )
  env CNI_COMMAND=ADD "${env[@]}" /usr/lib/cni/firewall >/dev/null <<JSON
{"cniVersion":"0.4.0","name":"$name","type":"firewall","prevResult":$res}
JSON
  mkdir -p "$HY_CNI_LIB/results"
  echo "$res" >"$HY_CNI_LIB/results/$name-$id-eth0"
  echo '{}' >"$HY_CNI_LIB/results/cni-loopback-$id-lo"
}

# Ours only, on a clean host: everything goes, ip_forward back to 0.
__netns_ours_only() {
  assert_isolated
  fresh_state
  echo 0 >"$HY_IP_FORWARD"
  local base_f base_n
  base_f=$(iptables -t filter -S) base_n=$(iptables -t nat -S)
  hy_net_snapshot "$NIGHTLY_STATE"
  cni_add nightlytb nightlytb0 10.213.0.0/16 ctr0aaaaaaaaaaaa
  cni_add nightlytb nightlytb0 10.213.0.0/16 ctr1bbbbbbbbbbbb
  cni_add nightlytb nightlytb0 10.213.0.0/16 ctr2cccccccccccc
  check "the plugins turned ip_forward on" [ "$(cat "$HY_IP_FORWARD")" = 1 ]
  check "the plugins made our masquerade chain" has_rule nat "-N $(hy_chain_name nightlytb ctr1bbbbbbbbbbbb)"
  check "check-clean would see our rules while up" [ -n "$(hy_net_leftovers "$NIGHTLY_STATE")" ]
  hy_net_cleanup "$NIGHTLY_STATE"
  check "filter is as before" [ "$(iptables -t filter -S)" = "$base_f" ]
  check "nat is as before" [ "$(iptables -t nat -S)" = "$base_n" ]
  check_sh "the bridge is gone" '! ip link show nightlytb0 2>/dev/null'
  check "ip_forward is back to 0" [ "$(cat "$HY_IP_FORWARD")" = 0 ]
  check "no lease or result file left, nor the folders we made" [ ! -e "$HY_CNI_LIB" ]
  check "check-clean finds nothing" [ -z "$(hy_net_leftovers "$NIGHTLY_STATE")" ]
  cleanup_mine
}

# Docker, libvirt, Tailscale, another CNI network and look-alike rules appear while the bed is up:
# all of them stay, ours go, ip_forward stays on (they need it).
__netns_foreign_appear() {
  assert_isolated
  fresh_state
  echo 0 >"$HY_IP_FORWARD"
  # There before the bed: fail2ban, and an unrelated /var/lib/cni folder.
  iptables -N f2b-sshd
  iptables -A INPUT -p tcp --dport 22 -j f2b-sshd
  mkdir -p "$HY_CNI_LIB/networks/other-net"
  hy_net_snapshot "$NIGHTLY_STATE"
  cni_add nightlytb nightlytb0 10.213.0.0/16 ours0aaaaaaaaaaa
  cni_add nightlytb nightlytb0 10.213.0.0/16 ours1bbbbbbbbbbb
  # Meanwhile, on the host:
  ip link add docker0 type bridge
  iptables -N DOCKER
  iptables -N DOCKER-USER
  iptables -A FORWARD -j DOCKER-USER
  iptables -A FORWARD -o docker0 -j DOCKER
  iptables -t nat -N DOCKER
  iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
  ip link add virbr0 type bridge
  iptables -N LIBVIRT_FWO
  iptables -A FORWARD -j LIBVIRT_FWO
  iptables -A LIBVIRT_FWO -s 192.168.122.0/24 -i virbr0 -j ACCEPT
  ip tuntap add dev tailscale0 mode tun
  iptables -N ts-input
  iptables -N ts-forward
  iptables -A INPUT -j ts-input
  iptables -A FORWARD -j ts-forward
  # Another CNI network (podman's), sharing CNI-FORWARD/CNI-ADMIN with ours.
  cni_add podman cni-podman0 10.88.0.0/16 podman0aaaaaaaaa
  # Look-alikes: another bridge whose name starts with ours, our subnet in an admin's rule, our
  # network's comment on a chain that is not its hash, and a comment that is shell code.
  iptables -A FORWARD -i nightlytb01 -j ACCEPT
  iptables -A INPUT -s 10.213.0.0/16 -m comment --comment "admin: block the test net" -j DROP
  iptables -t nat -N CNI-000000000000000000000000
  iptables -t nat -A POSTROUTING -s 10.213.0.99/32 -m comment --comment 'name: "nightlytb" id: "forged"' -j CNI-000000000000000000000000
  iptables -A FORWARD -i nightlytb0 -m comment --comment "\$(touch $T/pwned) \`touch $T/pwned\`" -j ACCEPT
  local podman_chain
  podman_chain=$(hy_chain_name podman podman0aaaaaaaaa)

  hy_net_cleanup "$NIGHTLY_STATE"

  check "no rule or chain of ours is left" [ -z "$(hy_net_leftovers "$NIGHTLY_STATE")" ]
  check "no rule of ours in CNI-FORWARD" no_rule_matching filter '^-A CNI-FORWARD -[sd] 10\.213\.'
  check "no masquerade chain of ours" no_rule_matching nat "$(hy_chain_name nightlytb ours0aaaaaaaaaaa)|$(hy_chain_name nightlytb ours1bbbbbbbbbbb)"
  check_sh "our bridge is gone" '! ip link show nightlytb0 2>/dev/null'
  check "the rule naming our bridge went, its comment never run" [ ! -e "$T/pwned" ]
  check "fail2ban (there before) stays" has_rule filter "-A INPUT -p tcp -m tcp --dport 22 -j f2b-sshd"
  check "DOCKER chains stay" has_rule filter "-N DOCKER"
  check "DOCKER's FORWARD rules stay" has_rule filter "-A FORWARD -o docker0 -j DOCKER"
  check "DOCKER-USER stays" has_rule filter "-A FORWARD -j DOCKER-USER"
  check "Docker's nat chain stays" has_rule nat "-N DOCKER"
  check "Docker's masquerade stays" has_rule nat "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"
  check "LIBVIRT_FWO and its rule stay" has_rule filter "-A LIBVIRT_FWO -s 192.168.122.0/24 -i virbr0 -j ACCEPT"
  check "LIBVIRT_FWO's jump stays" has_rule filter "-A FORWARD -j LIBVIRT_FWO"
  check "ts-input stays" has_rule filter "-A INPUT -j ts-input"
  check "ts-forward stays" has_rule filter "-A FORWARD -j ts-forward"
  check "the other bridge's rule stays" has_rule filter "-A FORWARD -i nightlytb01 -j ACCEPT"
  check "the admin's rule on our subnet stays" has_rule filter '-A INPUT -s 10.213.0.0/16 -m comment --comment "admin: block the test net" -j DROP'
  check "the forged look-alike stays" has_rule nat "-N CNI-000000000000000000000000"
  check "podman's masquerade chain stays" has_rule nat "-N $podman_chain"
  check "podman's rules in CNI-FORWARD stay" has_rule filter "-A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT"
  check "the shared CNI-FORWARD jump stays (podman uses it)" has_rule filter '-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD'
  check "the shared CNI-ADMIN stays" has_rule filter "-N CNI-ADMIN"
  check_sh "docker0, virbr0, tailscale0 and podman's bridge stay" \
    '{ ip link show docker0 && ip link show virbr0 && ip link show tailscale0 && ip link show cni-podman0; } >/dev/null'
  check "ip_forward stays 1 (they forward)" [ "$(cat "$HY_IP_FORWARD")" = 1 ]
  check "down says why it kept ip_forward" grep -q DOCKER "$NIGHTLY_STATE/hygiene/ip_forward.kept"
  check_sh "our leases and results are gone" '[ ! -e "$HY_CNI_LIB/networks/nightlytb" ] &&
    [ -z "$(find "$HY_CNI_LIB/results" -name "*ours*")" ]'
  check_sh "podman's leases and results stay" '[ -d "$HY_CNI_LIB/networks/podman" ] &&
    [ -f "$HY_CNI_LIB/results/podman-podman0aaaaaaaaa-eth0" ] && [ -f "$HY_CNI_LIB/results/cni-loopback-podman0aaaaaaaaa-lo" ]'
  check "the folder there before stays" [ -d "$HY_CNI_LIB/networks/other-net" ]
  cleanup_mine
}

# The shared firewall chains were there before the bed (another runtime): they and their jumps
# stay, only our per-address rules go; ip_forward was 1 before: untouched.
__netns_shared_before() {
  assert_isolated
  fresh_state
  echo 0 >"$HY_IP_FORWARD"
  cni_add podman cni-podman0 10.88.0.0/16 podman0aaaaaaaaa
  check "podman's bridge plugin turned ip_forward on" [ "$(cat "$HY_IP_FORWARD")" = 1 ]
  hy_net_snapshot "$NIGHTLY_STATE"
  cni_add nightlytb nightlytb0 10.213.0.0/16 ours0aaaaaaaaaaa
  iptables -t filter -S >"$T/filter.with-ours"
  hy_net_cleanup "$NIGHTLY_STATE"
  check "only our two per-address rules went from filter" \
    [ "$(diff "$T/filter.with-ours" <(iptables -t filter -S) | grep -c '^<')" = 2 ]
  check "the shared jump stays" has_rule filter '-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD'
  check "the admin jump stays" has_rule filter '-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN'
  check "ip_forward (1 before the bed) untouched" [ "$(cat "$HY_IP_FORWARD")" = 1 ]
  check "nothing of ours left" [ -z "$(hy_net_leftovers "$NIGHTLY_STATE")" ]
  cleanup_mine
}

# ip_forward: a new bridge alone (no iptables) keeps it on; forwarding users that were there
# before the bed do not; check-clean flags 1 left with no reason.
__netns_ip_forward_rule() {
  assert_isolated
  fresh_state
  echo 0 >"$HY_IP_FORWARD"
  ip link add virbr0 type bridge
  iptables -N LIBVIRT_INP
  hy_net_snapshot "$NIGHTLY_STATE"
  cni_add nightlytb nightlytb0 10.213.0.0/16 ours0aaaaaaaaaaa
  check "verdict: restore (only what was there before)" [ "$(hy_ip_forward_verdict "$NIGHTLY_STATE")" = restore ]
  ip link add lxcbr0 type bridge
  check_sh "verdict: keep once a bridge appears" '[[ "$(hy_ip_forward_verdict "$NIGHTLY_STATE")" == "keep: "*"link bridge lxcbr0"* ]]'
  ip link del lxcbr0
  ip tuntap add dev wg-like mode tun
  check_sh "verdict: keep once a tun appears" '[[ "$(hy_ip_forward_verdict "$NIGHTLY_STATE")" == "keep: "*"link tun wg-like"* ]]'
  ip link del wg-like
  hy_net_cleanup "$NIGHTLY_STATE"
  check "restored to 0: virbr0 and LIBVIRT_INP were there before" [ "$(cat "$HY_IP_FORWARD")" = 0 ]
  echo 1 >"$HY_IP_FORWARD"
  check_sh "check-clean flags ip_forward left on for nothing" \
    '[[ "$(hy_net_leftovers "$NIGHTLY_STATE")" == *"ip_forward is 1, was 0"* ]]'
  # A leftover of ours (a masquerade rule put back) is what check-clean reports.
  echo 0 >"$HY_IP_FORWARD"
  local c
  c=$(hy_chain_name nightlytb ours0aaaaaaaaaaa)
  iptables -t nat -N "$c"
  iptables -t nat -A POSTROUTING -s 10.213.0.2/32 -m comment --comment 'name: "nightlytb" id: "ours0aaaaaaaaaaa"' -j "$c"
  check "check-clean reports our leftover chain and rule" \
    [ "$(hy_net_leftovers "$NIGHTLY_STATE" | grep -c "$c")" = 2 ]
  cleanup_mine
}

# Another bed's engine runs on our network name: its rules look like ours; nothing is touched.
__netns_foreign_engine() {
  assert_isolated
  fresh_state
  echo 0 >"$HY_IP_FORWARD"
  hy_net_snapshot "$NIGHTLY_STATE"
  cni_add nightlytb nightlytb0 10.213.0.0/16 theirsaaaaaaaaaa
  fake_engine "$T/other-checkout/.testbed" nightlytb
  local before
  before=$(iptables -t nat -S; iptables -t filter -S)
  hy_net_cleanup "$NIGHTLY_STATE" 2>"$T/log"
  check "its rules are untouched" [ "$before" = "$(iptables -t nat -S; iptables -t filter -S)" ]
  check_sh "its bridge is untouched" 'ip link show nightlytb0 >/dev/null'
  check "ip_forward untouched" [ "$(cat "$HY_IP_FORWARD")" = 1 ]
  check "down says why" grep -q "another bed" "$T/log"
  check "check-clean does not call them ours" [ -z "$(hy_net_leftovers "$NIGHTLY_STATE" 2>/dev/null)" ]
  cleanup_mine
}

# fake_engine STATE [NETWORK] [ROOT]: a process named like an engine (HY_ENGINE_COMM) with an
# engine's command line; it only sleeps.
fake_engine() {
  local bin=$T/bin/$HY_ENGINE_COMM
  mkdir -p "$T/bin"
  # It must keep its name (no exec) and start no child (killing it must leave nothing behind):
  # a read from a FIFO nobody writes, opened read-write so that the open does not block.
  [ -p "$T/bin/fifo" ] || mkfifo "$T/bin/fifo"
  printf '#!/bin/bash\nread -r -t 600 _ <>"%s" || true\n' "$T/bin/fifo" >"$bin"
  chmod +x "$bin"
  "$bin" --root "${3:-$T/other-cache/engine-state}" --addr "unix://$1/engine.sock" \
    --network-name "${2:-nightlytb}" &
  MINE+=("$!")
  FAKE_ENGINE=$!
  for _ in $(seq 1 100); do [ "$(cat "/proc/$FAKE_ENGINE/comm" 2>/dev/null)" = "$HY_ENGINE_COMM" ] && break; sleep 0.02; done
}

# ---------------------------------------------------------------------------------------------
# Process cases.

# start_mine VAR CMD...: starts CMD in the background (its own session), its pid in VAR.
start_mine() {
  local var=$1 p; shift
  setsid "$@" >/dev/null 2>&1 </dev/null &
  p=$!
  MINE+=("$p")
  # setsid execs CMD: wait until it is CMD's image (the identity is read from it), that is until
  # its command line is neither setsid's nor this script's (the fork before the exec). Not by its
  # executable: a bash CMD has this script's.
  local self got=()
  self=$(tr '\0' ' ' </proc/$$/cmdline)
  for _ in $(seq 1 100); do
    { mapfile -d '' -t got <"/proc/$p/cmdline"; } 2>/dev/null || got=()
    [ ${#got[@]} -gt 0 ] && [ "${got[0]##*/}" != setsid ] && [ "${got[*]} " != "$self" ] && break
    sleep 0.02
  done
  printf -v "$var" '%s' "$p"
}
# alive PID: running (a zombie is not); a signalled one gets 0.5 s to go.
alive() {
  local i
  for ((i = 0; i < 5; i++)); do
    hy_stat "$1" && [ "$HY_STATE" != Z ] || return 1
    sleep 0.1
  done
  return 0
}

case_identity() {
  echo "  case identity: pid + start time + boot + executable"
  fresh_state
  hy_mark_bed
  mkdir -p "$NIGHTLY_STATE/servers"
  local srv victim kid parent
  start_mine srv sleep 600
  echo "$srv" >"$NIGHTLY_STATE/registry-a.pid"
  hy_record "$NIGHTLY_STATE/registry-a.pid"
  start_mine victim sleep 601
  # A recycled pid: the pid file names a live process, with another start time.
  echo "$victim" >"$NIGHTLY_STATE/registry-recycled.pid"
  echo "$victim $(($(hy_start "$victim") - 7)) $(hy_boot_id) $(command -v sleep)" >"$NIGHTLY_STATE/registry-recycled.pid.ident"
  hy_stop_pid "$victim" 1 2>"$T/log"
  check "a recycled pid is not signalled" alive "$victim"
  check "  and down says why" grep -q "pid reused" "$T/log"
  # A pid from another boot (a stale state folder after a reboot).
  echo "$victim $(hy_start "$victim") 00000000-0000-0000-0000-000000000000 $(command -v sleep)" >"$NIGHTLY_STATE/registry-recycled.pid.ident"
  hy_stop_pid "$victim" 1 2>"$T/log"
  check "a pid recorded in another boot is not signalled" alive "$victim"
  # Same pid and start, another executable.
  echo "$victim $(hy_start "$victim") $(hy_boot_id) /usr/bin/not-sleep" >"$NIGHTLY_STATE/registry-recycled.pid.ident"
  hy_stop_pid "$victim" 1 2>"$T/log"
  check "a pid running another executable is not signalled" alive "$victim"
  # No identity recorded, and its command line does not name our state: not ours.
  rm -f "$NIGHTLY_STATE/registry-recycled.pid.ident"
  hy_stop_pid "$victim" 1 2>"$T/log"
  check "a pid with no identity whose command line does not name the state is not signalled" alive "$victim"
  # Legacy rule: no identity, command line names the state, started after the bed: ours...
  start_mine kid bash -c 'sleep 600; : "$0"' "$NIGHTLY_STATE/legacy"
  echo "$kid" >"$NIGHTLY_STATE/servers/legacy.pid"
  check_sh "legacy rule: a server of this bed is ours" 'hy_identity "$kid" >/dev/null'
  # ...but not when the bed's mark says another boot (a reboot since).
  sed -i 's/^boot=.*/boot=00000000-0000-0000-0000-000000000000/' "$NIGHTLY_STATE/hygiene/bed"
  check_sh "legacy rule: after a reboot it is not" '! hy_identity "$kid" >/dev/null 2>&1'
  hy_stop_pid "$kid" 1 2>/dev/null
  check "  and it is not signalled" alive "$kid"
  hy_mark_bed
  # A verified server is stopped, and so is what it started.
  start_mine parent bash -c 'sleep 600 & sleep 601 & wait; : "$0"' "$NIGHTLY_STATE/x"
  echo "$parent" >"$NIGHTLY_STATE/servers/parent.pid"
  hy_record "$NIGHTLY_STATE/servers/parent.pid"
  local kids
  # start_mine returns once bash runs: its two sleeps may not be forked yet (up to 5 s for them).
  for _ in $(seq 1 250); do
    kids=$(hy_descendants "$parent" | awk '{print $1}')
    [ "$(echo "$kids" | wc -w)" = 2 ] && break
    sleep 0.02
  done
  check "its children are found" [ "$(echo "$kids" | wc -w)" = 2 ]
  # bash ignores nothing here: TERM stops it; its sleeps are killed as its descendants.
  hy_stop_pid "$parent" 2
  check "a verified server is stopped" ! alive "$parent"
  local k gone=1
  for k in $kids; do alive "$k" && gone=0; done
  check "  and its children" [ $gone = 1 ]
  hy_stop_pid "$srv" 2
  check "a server with a recorded identity is stopped" ! alive "$srv"
  check "the victim still runs" alive "$victim"
  # A replaced binary still counts as itself (regfront rebuilt while the bed runs).
  cp "$(command -v sleep)" "$T/mysleep"
  local rs
  start_mine rs "$T/mysleep" 600
  echo "$rs" >"$NIGHTLY_STATE/registry-rebuilt.pid"
  hy_record "$NIGHTLY_STATE/registry-rebuilt.pid"
  cp "$(command -v sleep)" "$T/mysleep.new" && mv "$T/mysleep.new" "$T/mysleep"
  check_sh "a server whose binary was replaced is still recognised" 'hy_identity "$rs" >/dev/null'
  cleanup_mine
}

case_our_procs() {
  echo "  case our processes: overlay mount namespace, chroot in the state, ENGINE_ROOT gated"
  fresh_state
  local ov=$NIGHTLY_STATE/overlay/usr other=$T/other-state/overlay/usr ns_ours ns_other in_root in_eroot
  mkdir -p "$ov/upper" "$ov/work" "$other/upper" "$other/work" "$T/mnt1" "$T/mnt2" "$T/lower"
  # A process in a mount namespace with our overlay (as the engine, its dnsmasq and containers).
  start_mine ns_ours unshare --mount --propagation private bash -c \
    'mount -t overlay nightly-usr -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$3" && exec sleep 600' \
    x "$T/lower" "$ov" "$T/mnt1"
  # The same, with another bed's overlay.
  start_mine ns_other unshare --mount --propagation private bash -c \
    'mount -t overlay nightly-usr -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$3" && exec sleep 600' \
    x "$T/lower" "$other" "$T/mnt2"
  # Chrooted in the state folder, and in ENGINE_ROOT (a container's root lives there).
  mkdir -p "$NIGHTLY_STATE/rootfs/bin" "$ENGINE_ROOT/rootfs/bin"
  cp /bin/busybox "$NIGHTLY_STATE/rootfs/bin/" && cp /bin/busybox "$ENGINE_ROOT/rootfs/bin/"
  start_mine in_root chroot "$NIGHTLY_STATE/rootfs" /bin/busybox sleep 600
  start_mine in_eroot chroot "$ENGINE_ROOT/rootfs" /bin/busybox sleep 601
  sleep 0.3
  local list procs
  procs=$(hy_our_procs)
  list=$(awk '{print $1}' <<<"$procs" | sort)
  check "overlay namespace: ours" grep -qx "$ns_ours" <<<"$list"
  check "another bed's overlay: not ours" ! grep -qx "$ns_other" <<<"$list"
  check "chrooted in our state: ours" grep -qx "$in_root" <<<"$list"
  check "rooted in ENGINE_ROOT, no other engine uses it: ours" grep -qx "$in_eroot" <<<"$list"
  local p strangers=''
  for p in $list; do
    [[ " ${MINE[*]} " == *" $p "* ]] || strangers+=" $p($(hy_cmdline "$p" | cut -c1-60))"
  done
  check "nothing but this test's own processes is listed${strangers:+:$strangers}" [ -z "$strangers" ]
  # Another bed's engine uses the same ENGINE_ROOT (the cache is shared): its containers are not ours.
  fake_engine "$T/other-checkout/.testbed" othernet "$ENGINE_ROOT"
  list=$(hy_our_procs | awk '{print $1}')
  procs=$(grep -v "^$in_eroot " <<<"$procs")
  check "rooted in ENGINE_ROOT used by another bed's engine: not ours" ! grep -qx "$in_eroot" <<<"$list"
  check "the engine of another bed is not ours" ! grep -qx "$FAKE_ENGINE" <<<"$list"
  # The kill loop of down.sh, on the list checked above (only this test's processes are in it).
  if [ -z "$strangers" ]; then
    hy_kill_list KILL <<<"$procs"
    sleep 0.3
    check "down's kill loop stops ours" ! alive "$ns_ours"
    check "  not the other bed's" alive "$ns_other"
    check "  nor its engine" alive "$FAKE_ENGINE"
    check "  nor the container of the bed sharing ENGINE_ROOT" alive "$in_eroot"
  fi
  cleanup_mine
}

# ---------------------------------------------------------------------------------------------
# Guard cases: one bed per host.

case_guard() {
  echo "  case guard: claim and refusal"
  fresh_state
  local other=$T/otherco/.testbed out rc
  mkdir -p "$T/otherco/testbed" "$other"
  : >"$T/otherco/testbed/down.sh"
  : >"$T/otherco/Makefile"
  rm -f "$TB_CLAIM"
  check "no other bed: the guard passes" hy_guard
  check "claim" hy_claim
  check "our own claim: the guard passes" hy_guard
  check "claiming again is fine" hy_claim
  hy_release
  check "release removes our claim" [ ! -e "$TB_CLAIM" ]
  # (A live claim: its up.sh runs. A dead one is taken over: __netns_dead_bed.)
  sleep 600 &
  MINE+=("$!")
  printf 'state=%s\ncheckout=%s\nboot=%s\npid=%s\npidstart=%s\n' "$other" "$T/otherco" "$(hy_boot_id)" \
    "$!" "$(hy_start "$!")" >"$TB_CLAIM"
  rc=0; out=$(hy_guard 2>&1) || rc=$?
  check "another checkout's claim (its up.sh runs): refused (3)" [ $rc = 3 ]
  check "  saying so" grep -qF "the up.sh that claimed it runs (pid $!)" <<<"$out"
  check "  naming its checkout" grep -qF "checkout $T/otherco," <<<"$out"
  check "  and how to stop it" grep -qF "cd $T/otherco && make testbed-down" <<<"$out"
  check "  and claiming fails" ! hy_claim 2>/dev/null
  hy_release
  check "  release leaves another bed's claim" [ -f "$TB_CLAIM" ]
  cleanup_mine
  printf 'state=%s\ncheckout=%s\nboot=%s\n' "$other" "$T/otherco" 00000000-0000-0000-0000-000000000000 >"$TB_CLAIM"
  check "a claim from another boot is stale: the guard passes" hy_guard
  check "  and claiming replaces it" hy_claim 2>/dev/null
  check "  with ours" grep -qxF "state=$NIGHTLY_STATE" "$TB_CLAIM"
  printf 'state=%s\ncheckout=%s\nboot=%s\n' "$T/gone/.testbed" "$T/gone" "$(hy_boot_id)" >"$TB_CLAIM"
  check "a claim whose state folder is gone is stale" hy_guard
  rm -f "$TB_CLAIM"
  fake_engine "$other"
  rc=0; out=$(hy_guard 2>&1) || rc=$?
  check "another checkout's engine: refused (3)" [ $rc = 3 ]
  check "  naming its checkout and engine" grep -qF "checkout $T/otherco, state $other (its engine runs (pid $FAKE_ENGINE))" <<<"$out"
  cleanup_mine
  fake_engine "$NIGHTLY_STATE"
  check "our own engine: the guard passes" hy_guard
  cleanup_mine
  # A claim of this boot whose state folder is there: alive or not is told by what runs (the
  # claiming up.sh, above; a process naming its state or its checkout's testbed/ scripts, here).
  bash -c 'exec -a "bash $0/testbed/build-dagger.sh" sleep 600' "$T/otherco" &
  MINE+=("$!")
  printf 'state=%s\ncheckout=%s\nboot=%s\n' "$other" "$T/otherco" "$(hy_boot_id)" >"$TB_CLAIM"
  rc=0; out=$(hy_guard 2>&1) || rc=$?
  check "a claim (no pid) whose checkout's build still runs: refused (3)" [ $rc = 3 ]
  check "  naming that process" grep -qF "pid $! runs bash $T/otherco/testbed/build-dagger.sh" <<<"$out"
  cleanup_mine
  bash -c 'exec -a "registry serve $0/registry.yml" sleep 600' "$other" &
  MINE+=("$!")
  rc=0; out=$(hy_guard 2>&1) || rc=$?
  check "a claim whose server (naming its state) still runs: refused (3)" [ $rc = 3 ]
  cleanup_mine
  rm -f "$TB_CLAIM"
  in_netns dead_bed || FAILS=$((FAILS + 1))
}

# The bed that claimed the host died (its session killed): nothing of it runs, its state folder,
# claim and network leftovers remain. The guard keeps its logs, cleans up after it (down.sh on its
# state) and passes; claiming then works.
__netns_dead_bed() {
  assert_isolated
  fresh_state
  local other=$T/deadco/.testbed out rc kept
  rm -rf "$T/deadco" "$NIGHTLY_CACHE/dead-beds"
  mkdir -p "$other/servers" "$T/deadco/testbed"
  echo "engine said goodbye" >"$other/engine.log"
  echo "etcd said goodbye" >"$other/servers/etcd.log"
  echo 0 >"$HY_IP_FORWARD"
  hy_net_snapshot "$other"
  cni_add nightlytb nightlytb0 10.213.0.0/16 deadbedaaaaaaaaa
  # pid 1 runs, but not since this start time: a recycled pid is not the claimant.
  printf 'state=%s\ncheckout=%s\nboot=%s\npid=1\npidstart=12345\n' "$other" "$T/deadco" "$(hy_boot_id)" >"$TB_CLAIM"
  rc=0; out=$(hy_guard 2>&1) || rc=$?
  check "a dead bed's claim: the guard passes" [ $rc = 0 ]
  check "  saying it cleaned up after it" grep -qF "the test bed of checkout $T/deadco (state $other) claimed this host and died" <<<"$out"
  check "  its claim is released" [ ! -e "$TB_CLAIM" ]
  check "  its state folder is removed" [ ! -e "$other" ]
  kept=$(find "$NIGHTLY_CACHE/dead-beds" -mindepth 1 -maxdepth 1 | head -n1)
  export kept # read by check_sh's eval
  check_sh "  its logs and claim are kept" 'grep -qx "engine said goodbye" "$kept/engine.log" &&
    grep -qx "etcd said goodbye" "$kept/servers/etcd.log" && grep -qxF "checkout=$T/deadco" "$kept/claim"'
  check "  its network is gone" no_rule_matching nat 'deadbedaaaaaaaaa'
  check_sh "  its bridge too" '! ip link show nightlytb0 >/dev/null 2>&1'
  check "  ip_forward as it was" [ "$(cat "$HY_IP_FORWARD")" = 0 ]
  check "then claiming works" hy_claim
  check_sh "  the claim names its up.sh" 'grep -qx "pid=${BASHPID:-$$}" "$TB_CLAIM" && grep -q "^pidstart=[0-9]" "$TB_CLAIM"'
  hy_release
}

# A second checkout (a copy of this one, its own .testbed) while a bed is up: `make test`, with.sh,
# up.sh and `make testbed` refuse before building, writing or starting anything, and never run
# down.sh; the running bed (here: a fake engine and its claim) is untouched.
case_second_checkout() {
  echo "  case second checkout: refuses before touching anything"
  local co=$T/clone other=$T/otherco/.testbed out rc claim_before
  rm -rf "$co"
  mkdir -p "$co/testbed" "$other" "$T/otherco/testbed"
  cp "$HERE"/*.sh "$co/testbed/"
  cp "$HERE/../Makefile" "$co/"
  : >"$T/otherco/testbed/down.sh"
  : >"$T/otherco/Makefile"
  printf 'state=%s\ncheckout=%s\nboot=%s\n' "$other" "$T/otherco" "$(hy_boot_id)" >"$TB_CLAIM"
  fake_engine "$other"
  claim_before=$(cat "$TB_CLAIM")
  # The copy's own settings: its default state (co/.testbed) and a cache of its own.
  local envs=(env -u NIGHTLY_STATE NIGHTLY_CACHE="$T/clone-cache" TB_CLAIM="$TB_CLAIM" HY_ENGINE_COMM="$HY_ENGINE_COMM")
  for cmd in "make -C $co test" "make -C $co testbed" "bash $co/testbed/with.sh true" "bash $co/testbed/up.sh"; do
    rc=0
    # shellcheck disable=SC2086
    out=$("${envs[@]}" $cmd 2>&1) || rc=$?
    check "$cmd: refused" [ $rc != 0 ]
    check "  naming the running bed's checkout and how to stop it" grep -qF "cd $T/otherco && make testbed-down" <<<"$out"
    check_sh "  nothing built, written or run" '[ ! -e "$co/.testbed" ] && [ ! -e "$T/clone-cache" ] &&
      ! grep -qE "go vet|building|installing|\] not up|\] down\$" <<<"$out"'
  done
  check "the running bed's engine still runs" alive "$FAKE_ENGINE"
  check "its claim is unchanged" [ "$(cat "$TB_CLAIM")" = "$claim_before" ]
  # down.sh in the copy (nothing of its own up) leaves the other bed alone too.
  rc=0
  out=$("${envs[@]}" bash "$co/testbed/down.sh" 2>&1) || rc=$?
  check_sh "down.sh in the copy: nothing to do" '[ $rc = 0 ] && grep -q "not up" <<<"$out"'
  check "  the running bed's engine still runs" alive "$FAKE_ENGINE"
  rm -f "$TB_CLAIM"
  cleanup_mine
}

# ---------------------------------------------------------------------------------------------

# The engine's settings are checked before anything is built or started, each bad one named.
case_settings() {
  echo "settings: engine settings are checked and named"
  # shellcheck disable=SC2317 # called from check_sh's expressions
  settings_err() { # settings_err VAR=VALUE...: what engine_settings_ok prints (lib.sh's defaults otherwise)
    (for kv in "$@"; do export "${kv?}"; done; engine_settings_ok) 2>&1 || true
  }
  check_sh "the defaults pass" '[ -z "$(settings_err NIGHTLY_ENGINE_CACHE_MAX=30GB)" ]'
  check_sh "pprof on loopback passes" '[ -z "$(settings_err NIGHTLY_ENGINE_DEBUG_ADDR=127.0.0.1:6061)" ]'
  check_sh "GOGC off passes" '[ -z "$(settings_err NIGHTLY_ENGINE_GOGC=off)" ]'
  check_sh "a bad cache cap is named" '[[ "$(settings_err NIGHTLY_ENGINE_CACHE_MAX=lots)" == *NIGHTLY_ENGINE_CACHE_MAX* ]]'
  check_sh "a bad GOGC is named" '[[ "$(settings_err NIGHTLY_ENGINE_GOGC=-1)" == *NIGHTLY_ENGINE_GOGC=-1* ]]'
  check_sh "a GOMEMLIMIT Go would not read is named" '[[ "$(settings_err NIGHTLY_ENGINE_GOMEMLIMIT=8G)" == *NIGHTLY_ENGINE_GOMEMLIMIT=8G:* ]]'
  check_sh "pprof on every address is refused" '[[ "$(settings_err NIGHTLY_ENGINE_DEBUG_ADDR=0.0.0.0:6061)" == *"loopback only"* ]]'
  check_sh "a port with junk is refused" '[[ "$(settings_err NIGHTLY_ENGINE_DEBUG_ADDR=127.0.0.1:6061x)" == *NIGHTLY_ENGINE_DEBUG_ADDR* ]]'
}

case_net() {
  local c
  for c in ours_only foreign_appear shared_before ip_forward_rule foreign_engine; do
    echo "  case network: $c (own network namespace)"
    in_netns "$c" || FAILS=$((FAILS + 1))
  done
}

if [[ ${1:-} == __netns_* ]]; then
  "$1"
  exit $((FAILS > 0))
fi

cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(settings net identity our_procs guard second_checkout)
start=$(date +%s)
for c in "${cases[@]}"; do "case_$c"; done
if [ $FAILS -gt 0 ]; then
  echo "hygiene_test: FAIL ($FAILS failed checks)"
  exit 1
fi
echo "hygiene_test: ok ($(($(date +%s) - start)) s)"
