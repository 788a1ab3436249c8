#!/usr/bin/env bash
# hygiene.sh: how the test bed tells what is its own on the host, so that it touches nothing else.
# Sourced (after lib.sh) by up.sh, down.sh, check-clean.sh, with.sh and engine.sh; run as
# `bash testbed/hygiene.sh guard` it is the first step of the Makefile's targets that start a bed.
#
# Processes. A pid alone is not an identity (a stale pid after a reboot, a recycled pid): every
# server's pid file FILE.pid gets FILE.pid.ident, "PID STARTTIME BOOT_ID EXE", STARTTIME being
# field 22 of /proc/PID/stat. Nothing is signalled unless its identity matches at that moment; a
# pid file without .ident (a bed started before this file existed, or a start that failed half-way)
# is trusted only for a process of this boot, started after the bed, whose command line names the
# state folder. Beyond its pid files, the bed's processes are: the descendants of those (taken
# before anything is stopped), the processes whose mount namespace has our overlays mounted (the
# engine, its dnsmasq, runc, and every container, whose /.init comes from our /usr overlay),
# processes chrooted into the state folder, and processes rooted in ENGINE_ROOT, only while no
# engine of another bed uses that folder (ENGINE_ROOT is in the cache, which checkouts share).
#
# Network. The engine's CNI network (github.com/dagger/dagger v0.19.10 network/netinst/cni.go) is
# bridge (ipMasq, isDefaultGateway) + firewall + dnsname, named $TB_NET_NAME. What the plugins
# (containernetworking/plugins v1.1.1, Debian's) write is deterministic:
#   - bridge (pkg/ip/ipmasq_linux.go SetupIPMasq): per container ID, nat chain
#     CNI-<first 24 hex of sha512(NAME+ID)> (pkg/utils FormatChainName) holding
#     "-d CIDR -j ACCEPT" and "! -d 224.0.0.0/4 -j MASQUERADE", and "POSTROUTING -s IP/32 -j that
#     chain", every rule commented `name: "NAME" id: "ID"` (FormatComment); and ip_forward=1.
#   - firewall (plugins/meta/firewall/iptables.go): per IP, in filter chain CNI-FORWARD,
#     "-d IP/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" and "-s IP/32 -j ACCEPT"; the
#     chains CNI-FORWARD and CNI-ADMIN with "FORWARD -m comment --comment "CNI firewall plugin
#     rules" -j CNI-FORWARD" and "CNI-FORWARD ... "CNI firewall plugin admin overrides" -j
#     CNI-ADMIN" are SHARED by every CNI network on the host (podman, containerd, another runtime).
#   - no portmap in the conflist: CNI-HOSTPORT-*, CNI-DN-*, CNI-SN-* chains are never ours.
# So ours are: rules carrying our comment in (or jumping to) the chain whose name is that hash of
# their ID; CNI-FORWARD's per-IP rules for addresses in TB_NET_CIDR; rules naming our bridge as
# -i/-o; and the shared firewall chains and their two jumps only when they were not there before
# the engine started AND nothing but ours remains in them. Everything else (a DOCKER, LIBVIRT_*,
# ts-* chain, a rule of another bridge, another CNI network's rules in CNI-FORWARD) is left alone.
# host-local and libcni also write /var/lib/cni/networks/NAME and /var/lib/cni/results/*-ID-*
# (the engine's mount namespace shares /var with the host): removed by name and ID.
#
# ip_forward. Put back to 0 only when it was 0 before the engine started, is 1 now, and no other
# forwarding user appeared meanwhile: a chain in filter/nat, a rule in FORWARD, PREROUTING or
# POSTROUTING, or a link of kind bridge, veth, tun, wireguard, vxlan, geneve, macvlan, ipvlan, gre,
# gretap, ipip, sit or vrf, that is not ours and was not there before (Docker, libvirt, Tailscale,
# another container runtime). Otherwise it stays 1, and down.sh says why.
#
# Only one bed per host (the engine's DNS binds port 53): up.sh claims the host in $TB_CLAIM
# before touching anything, down.sh releases it; another checkout (another state folder) refuses
# to start, build or stop anything while a bed is up, naming that bed's checkout.

# Test seams (never set outside testbed/hygiene_test.sh): the claim file, the engine's process
# name, the ip_forward file, and /var/lib/cni.
TB_CLAIM=${TB_CLAIM:-/run/nightly-testbed.claim}
HY_ENGINE_COMM=${HY_ENGINE_COMM:-dagger-engine}
HY_IP_FORWARD=${HY_IP_FORWARD:-/proc/sys/net/ipv4/ip_forward}
HY_CNI_LIB=${HY_CNI_LIB:-/var/lib/cni}
HY_FWD_KINDS=" bridge veth tun wireguard vxlan geneve macvlan ipvlan gre gretap ipip sit vrf "
HY_WHY='' HY_IDSTART='' HY_STATE='' HY_PPID='' HY_START=''

# ---------------------------------------------------------------------------------------------
# Process identity.

hy_boot_id() { cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown; }

# hy_stat PID: sets HY_STATE, HY_PPID and HY_START (fields 3, 4 and 22 of /proc/PID/stat); fails
# if PID is gone. No fork: the loops over /proc call it for every process.
hy_stat() {
  local s fld
  HY_STATE='' HY_PPID='' HY_START=''
  { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  # The command name (field 2) may hold spaces and parentheses: fields restart after the last ')'.
  read -r -a fld <<<"${s##*) }"
  [ "${#fld[@]}" -ge 20 ] || return 1
  HY_STATE=${fld[0]} HY_PPID=${fld[1]} HY_START=${fld[19]}
}
hy_start() { hy_stat "$1" && echo "$HY_START"; }
# hy_exe PID: the executable (a binary replaced on disk while running still counts as itself).
hy_exe() { local e; e=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1; echo "${e% (deleted)}"; }
hy_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }

# hy_record PIDFILE [PID]: writes PIDFILE.ident for the live process PID (default: PIDFILE's).
hy_record() {
  local f=$1 pid=${2:-} start exe
  [ -n "$pid" ] || pid=$(head -n1 "$f" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  start=$(hy_start "$pid") || return 1
  exe=$(hy_exe "$pid") || return 1
  printf '%s %s %s %s\n' "$pid" "$start" "$(hy_boot_id)" "$exe" >"$f.ident.tmp"
  mv "$f.ident.tmp" "$f.ident"
}

# hy_pidfiles: the bed's pid files (the engine, the registries and fronts, nginx and Gitea as
# registry-*.pid, the deploy stage's servers in servers/).
hy_pidfiles() {
  local f
  for f in "$NIGHTLY_STATE"/engine.pid "$NIGHTLY_STATE"/registry-*.pid "$NIGHTLY_STATE"/servers/*.pid; do
    [ -f "$f" ] && echo "$f"
  done
  return 0
}

# hy_legacy_ours PID: the rule for a pid file without .ident: a live process of this boot, started
# after the bed (when up.sh recorded when that was), whose command line names the state folder.
hy_legacy_ours() {
  local pid=$1 start bed_boot='' bed_start=''
  hy_stat "$pid" || return 1
  start=$HY_START
  if [ -f "$NIGHTLY_STATE/hygiene/bed" ]; then
    bed_boot=$(sed -n 's/^boot=//p' "$NIGHTLY_STATE/hygiene/bed")
    bed_start=$(sed -n 's/^start=//p' "$NIGHTLY_STATE/hygiene/bed")
    [ "$bed_boot" = "$(hy_boot_id)" ] || return 1
    [ -z "$bed_start" ] || [ "$start" -ge "$bed_start" ] || return 1
  fi
  [[ " $(hy_cmdline "$pid") " == *"$NIGHTLY_STATE/"* ]]
}

# hy_verify IDENTFILE: prints the pid when the process it names is alive with the same start time,
# boot and executable; otherwise fails, saying why in HY_WHY.
hy_verify() {
  local pid start boot exe now
  HY_WHY=
  read -r pid start boot exe <"$1" || { HY_WHY="unreadable $1"; return 1; }
  if [ "$boot" != "$(hy_boot_id)" ]; then HY_WHY="recorded in another boot"; return 1; fi
  now=$(hy_start "$pid") || { HY_WHY="gone"; return 1; }
  if [ "$now" != "$start" ]; then HY_WHY="pid reused (started at tick $now, ours at $start)"; return 1; fi
  if [ "$(hy_exe "$pid")" != "$exe" ]; then HY_WHY="pid runs $(hy_exe "$pid"), ours ran $exe"; return 1; fi
  echo "$pid"
}

# hy_identity PID: succeeds, setting HY_IDSTART to its start time, when PID is one of the bed's
# servers (verified by its .ident, or by the legacy rule); else fails, saying why in HY_WHY.
hy_identity() {
  local pid=$1 f id p
  HY_WHY='' HY_IDSTART=''
  [[ $pid =~ ^[0-9]+$ ]] || { HY_WHY="not a pid: '$pid'"; return 1; }
  while IFS= read -r f; do
    id=$f.ident
    [ -f "$id" ] || continue
    read -r p _ <"$id" || continue
    [ "$p" = "$pid" ] || continue
    hy_verify "$id" >/dev/null || return 1
    hy_stat "$pid" || { HY_WHY=gone; return 1; }
    HY_IDSTART=$HY_START
    return 0
  done < <(hy_pidfiles)
  if hy_legacy_ours "$pid"; then
    HY_IDSTART=$HY_START
    return 0
  fi
  HY_WHY="no recorded identity, and its command line does not name $NIGHTLY_STATE/"
  hy_start "$pid" >/dev/null || HY_WHY="gone"
  return 1
}

# hy_alive PID START: the process PID is still the one that started at START (a zombie is dead).
hy_alive() { hy_stat "$1" && [ "$HY_START" = "$2" ] && [ "$HY_STATE" != Z ]; }

# hy_kill_list SIGNAL: signals each "PID STARTTIME" line of stdin whose process is still that one.
hy_kill_list() {
  local sig=$1 pid start
  while read -r pid start; do
    [ -n "$pid" ] || continue
    [ "$pid" = $$ ] && continue
    if hy_alive "$pid" "$start"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
  done
  return 0
}

# hy_descendants PID...: "PID STARTTIME" of every descendant of the given pids (one /proc scan).
hy_descendants() {
  local -A kids=() start=()
  local p queue=("$@") cur
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    hy_stat "$p" || continue
    kids[$HY_PPID]+=" $p"
    start[$p]=$HY_START
  done
  while [ "${#queue[@]}" -gt 0 ]; do
    cur=${queue[0]}
    queue=("${queue[@]:1}")
    for p in ${kids[$cur]:-}; do
      echo "$p ${start[$p]}"
      queue+=("$p")
    done
  done
}

# hy_stop_pid PID [GRACE_SECONDS]: stops one of the bed's servers and what it started: TERM, then
# KILL after GRACE, each only while the pid is still that process. A pid that is not the bed's
# (HY_WHY) is never signalled.
hy_stop_pid() {
  local pid=$1 grace=${2:-10} start kids i
  hy_identity "$pid" || {
    [ "$HY_WHY" = gone ] || log "not signalling pid $pid: $HY_WHY"
    return 0
  }
  start=$HY_IDSTART
  kids=$(hy_descendants "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do hy_alive "$pid" "$start" || break; sleep 0.1; done
  if hy_alive "$pid" "$start"; then kill -KILL "$pid" 2>/dev/null || true; fi
  [ -z "$kids" ] || hy_kill_list KILL <<<"$kids"
}

# hy_engines: "PID STATE ROOT NETWORK" for every running Dagger engine on the host, read from its
# command line (--addr unix://STATE/engine.sock --root ROOT --network-name NETWORK).
hy_engines() {
  local p comm args a state root net i
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    { read -r comm <"/proc/$p/comm"; } 2>/dev/null || continue
    [ "$comm" = "$HY_ENGINE_COMM" ] || continue
    mapfile -d '' -t args <"/proc/$p/cmdline" 2>/dev/null || continue
    state=- root=- net=dagger
    for ((i = 0; i < ${#args[@]}; i++)); do
      a=${args[i]}
      case $a in
      --addr) a=${args[i + 1]:-}; a=${a#unix://}; state=${a%/engine.sock} ;;
      --addr=*) a=${a#--addr=}; a=${a#unix://}; state=${a%/engine.sock} ;;
      --root) root=${args[i + 1]:-} ;;
      --root=*) root=${a#--root=} ;;
      --network-name) net=${args[i + 1]:-} ;;
      --network-name=*) net=${a#--network-name=} ;;
      esac
    done
    echo "$p $state $root $net"
  done
  return 0
}

# hy_same_path A B: A and B name the same folder (symlinks and .. resolved, existing or not).
hy_same_path() { [ "$(realpath -m -- "$1")" = "$(realpath -m -- "$2")" ]; }

# hy_foreign_engines: engines that are not this bed's (another state folder).
hy_foreign_engines() {
  local pid state root net
  hy_engines | while read -r pid state root net; do
    hy_same_path "$state" "$NIGHTLY_STATE" || echo "$pid $state $root $net"
  done
}

# hy_ns_ours PID: the mount namespace of PID has our overlays mounted (the engine's, or a
# container's, whose /.init is bind-mounted from our /usr overlay).
hy_ns_ours() {
  local m
  { mapfile -t m <"/proc/$1/mountinfo"; } 2>/dev/null || return 1
  [[ " ${m[*]} " == *"upperdir=$NIGHTLY_STATE/overlay/"* ]]
}

# hy_our_procs: "PID STARTTIME" of every process that is the bed's beyond its pid files (see the
# header). The caller and its ancestors are never listed.
hy_our_procs() {
  local -A skip=()
  local reps=() verdict r p root shared_root=1 pid state eroot net me=${BASHPID:-$$}
  while [ -n "$me" ] && [ "$me" != 0 ] && [ -z "${skip[$me]:-}" ]; do
    skip[$me]=1
    hy_stat "$me" || break
    me=$HY_PPID
  done
  # ENGINE_ROOT is in the cache: processes rooted there are ours only if no other bed's engine
  # uses it.
  while read -r pid state eroot net; do
    [ "$eroot" = "$ENGINE_ROOT" ] && shared_root=0
  done < <(hy_foreign_engines)
  # Told without forking where possible (the host is often busy): a mount namespace is compared
  # with -ef to one process of each namespace already judged (reps: "PID y|n").
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ -n "${skip[$p]:-}" ] && continue
    hy_stat "$p" || continue
    verdict=
    if [ "/proc/$p/ns/mnt" -ef /proc/self/ns/mnt ]; then
      verdict=n
    else
      for r in "${reps[@]}"; do
        if [ "/proc/$p/ns/mnt" -ef "/proc/${r% *}/ns/mnt" ]; then verdict=${r#* }; break; fi
      done
      if [ -z "$verdict" ]; then
        if hy_ns_ours "$p"; then verdict=y; else verdict=n; fi
        reps+=("$p $verdict")
      fi
    fi
    if [ "$verdict" = n ]; then
      [ "/proc/$p/root" -ef / ] && continue
      root=$(readlink "/proc/$p/root" 2>/dev/null) || continue
      [[ $root == "$NIGHTLY_STATE/"* ]] || { [ $shared_root = 1 ] && [[ $root == "$ENGINE_ROOT/"* ]]; } || continue
    fi
    echo "$p $HY_START"
  done
  return 0
}

# hy_record_all: writes .ident for every pid file of the bed that has none yet (up.sh, at the
# end), under the legacy rule: the processes were started by this up.sh.
hy_record_all() {
  local f pid
  while IFS= read -r f; do
    [ -f "$f.ident" ] && continue
    pid=$(head -n1 "$f" 2>/dev/null) || continue
    if hy_legacy_ours "$pid"; then hy_record "$f" "$pid" || true; fi
    [ -f "$f.ident" ] || log "WARNING: no identity recorded for ${f#"$NIGHTLY_STATE"/} (pid $pid): down.sh will not signal it"
  done < <(hy_pidfiles)
}

# hy_bed_up: this state folder's engine is running (its identity checked).
hy_bed_up() {
  local pid
  [ -f "$NIGHTLY_STATE/engine.pid" ] || return 1
  pid=$(head -n1 "$NIGHTLY_STATE/engine.pid" 2>/dev/null) || return 1
  hy_identity "$pid" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------------
# One bed per host: the claim and the guard.

# hy_checkout_of STATE: the checkout whose bed keeps its state in STATE.
hy_checkout_of() {
  local c
  c=$(sed -n 's/^checkout=//p' "$1/hygiene/bed" 2>/dev/null || true)
  if [ -z "$c" ] && [ "$(basename "$1")" = .testbed ] && [ -f "$(dirname "$1")/testbed/down.sh" ]; then
    c=$(dirname "$1")
  fi
  echo "${c:-unknown (state $1)}"
}

# hy_stop_hint STATE CHECKOUT: how to stop that bed.
hy_stop_hint() {
  local state=$1 co=$2
  if [ -f "$co/Makefile" ] && [ "$state" = "$co/.testbed" ]; then
    echo "cd $co && make testbed-down"
  elif [ -f "$co/Makefile" ]; then
    echo "cd $co && NIGHTLY_STATE=$state make testbed-down"
  else
    echo "NIGHTLY_STATE=$state bash <its checkout>/testbed/down.sh"
  fi
}

# hy_foreign_bed: prints "STATE<TAB>CHECKOUT<TAB>WHAT" of a test bed on this host that is not
# ours, and succeeds, if there is one: an engine of another state folder, or a claim of this boot
# by another state folder that still exists (a bed starting, or one that crashed and left its
# state: either way its checkout must stop it first).
hy_foreign_bed() {
  local pid state root net cstate cboot
  while read -r pid state root net; do
    printf '%s\t%s\t%s\n' "$state" "$(hy_checkout_of "$state")" "its engine runs (pid $pid)"
    return 0
  done < <(hy_foreign_engines)
  [ -f "$TB_CLAIM" ] || return 1
  cstate=$(sed -n 's/^state=//p' "$TB_CLAIM")
  cboot=$(sed -n 's/^boot=//p' "$TB_CLAIM")
  [ -n "$cstate" ] && ! hy_same_path "$cstate" "$NIGHTLY_STATE" || return 1
  [ "$cboot" = "$(hy_boot_id)" ] && [ -d "$cstate" ] || return 1
  printf '%s\t%s\t%s\n' "$cstate" "$(sed -n 's/^checkout=//p' "$TB_CLAIM")" "it claimed this host ($TB_CLAIM)"
}

# hy_claim_live STATE CHECKOUT: something of the bed that claimed the host still runs: the up.sh
# that claimed it (pid and start time in the claim), a process whose command line names its state
# folder (its engine and servers), or one that names its checkout's testbed/ scripts (a build or a
# with.sh it started). Says which in HY_WHY. No fork per process: the scan reads /proc directly.
hy_claim_live() {
  local state=$1 co=$2 cpid cstart p cmd args me=${BASHPID:-$$}
  cpid=$(sed -n 's/^pid=//p' "$TB_CLAIM" 2>/dev/null || true)
  cstart=$(sed -n 's/^pidstart=//p' "$TB_CLAIM" 2>/dev/null || true)
  HY_WHY=
  if [ -n "$cpid" ] && [ -n "$cstart" ] && hy_alive "$cpid" "$cstart"; then
    HY_WHY="the up.sh that claimed it runs (pid $cpid)"
    return 0
  fi
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$me" ] && continue
    { mapfile -d '' -t args <"/proc/$p/cmdline"; } 2>/dev/null || continue
    [ "${#args[@]}" -gt 0 ] || continue
    cmd=" ${args[*]} "
    if [[ $cmd == *"$state/"* ]] || { [ -n "$co" ] && [[ $cmd == *"$co/testbed/"* ]]; }; then
      HY_WHY="pid $p runs${cmd:0:100}"
      return 0
    fi
  done
  return 1
}

# hy_take_over STATE CHECKOUT: the bed of another checkout claimed the host and died (a session
# killed, a machine's jobs cut off) with nothing of it running: its logs and claim are kept under
# $NIGHTLY_CACHE/dead-beds/ (the last three), then testbed/down.sh runs on its state folder (its
# bridge, rules and mounts; it stops nothing, nothing runs) and releases its claim.
hy_take_over() {
  local state=$1 co=$2 keep
  keep=$NIGHTLY_CACHE/dead-beds/$(date -u +%Y%m%dT%H%M%SZ)-$$
  log "the test bed of checkout $co (state $state) claimed this host and died: nothing of it runs."
  log "Cleaning up after it (its logs and claim kept in $keep), then going on."
  mkdir -p "$keep"
  cp "$TB_CLAIM" "$keep/claim" 2>/dev/null || true
  (cd "$state" 2>/dev/null && find . -name '*.log' -size -64M -exec cp --parents {} "$keep/" \;) 2>/dev/null || true
  find "$NIGHTLY_CACHE/dead-beds" -mindepth 1 -maxdepth 1 -printf '%T@ %p\n' | sort -rn | tail -n +4 |
    cut -d' ' -f2- | xargs -r rm -rf
  NIGHTLY_STATE=$state bash "$TB_ROOT/testbed/down.sh"
}

# hy_guard: refuses (status 3), before anything is built, written or started, when another
# checkout's test bed is up; says which and how to stop it. A bed that claimed the host and died
# (nothing of it runs: hy_claim_live) is cleaned up after instead (hy_take_over), and the guard
# passes: CI on a host where a session was killed with its bed up goes on.
hy_guard() {
  local f state co what i
  for i in 1 2 3; do
    f=$(hy_foreign_bed) || return 0
    IFS=$'\t' read -r state co what <<<"$f"
    [[ $what == "it claimed this host"* ]] || break
    if hy_claim_live "$state" "$co"; then
      what="$what; $HY_WHY"
      break
    fi
    hy_take_over "$state" "$co" || { what="$what; it died, and cleaning up after it failed"; break; }
  done
  log "ERROR: a test bed of another checkout is up on this host: checkout $co, state $state ($what)."
  log "This checkout ($TB_ROOT, state $NIGHTLY_STATE) touches nothing while it is: one test bed per host."
  log "Use that bed (source $state/env), or stop it first: $(hy_stop_hint "$state" "$co")"
  return 3
}

# hy_claim: claims the host for this bed (atomically); fails (3) when another bed holds it. A
# claim from another boot, or whose state folder is gone, is stale and replaced; one whose bed
# died is cleaned up after first (hy_guard).
hy_claim() {
  local cstate seen me=${BASHPID:-$$}
  for _ in 1 2; do
    if (set -o noclobber; printf 'state=%s\ncheckout=%s\nboot=%s\nstarted=%s\npid=%s\npidstart=%s\n' \
      "$NIGHTLY_STATE" "$TB_ROOT" "$(hy_boot_id)" "$(date -u +%FT%TZ)" "$me" "$(hy_start "$me")" \
      >"$TB_CLAIM") 2>/dev/null; then
      return 0
    fi
    seen=$(cat "$TB_CLAIM" 2>/dev/null) || continue
    cstate=$(sed -n 's/^state=//p' <<<"$seen")
    [ -n "$cstate" ] && hy_same_path "$cstate" "$NIGHTLY_STATE" && return 0
    hy_guard || return 3
    # Removed only if it is still the claim judged stale (another bed may have claimed meanwhile).
    if [ "$(cat "$TB_CLAIM" 2>/dev/null)" = "$seen" ]; then
      log "replacing a stale claim of the host ($TB_CLAIM: state ${cstate:-?}, $(sed -n 's/^boot=//p' <<<"$seen"))"
      rm -f "$TB_CLAIM"
    fi
  done
  return 3
}

# hy_release: removes the claim if it is ours.
hy_release() {
  [ -f "$TB_CLAIM" ] || return 0
  hy_same_path "$(sed -n 's/^state=//p' "$TB_CLAIM")" "$NIGHTLY_STATE" && rm -f "$TB_CLAIM"
  return 0
}

# hy_mark_bed: records when and from where this bed started (the legacy rule's reference).
hy_mark_bed() {
  mkdir -p "$NIGHTLY_STATE/hygiene"
  printf 'boot=%s\nstart=%s\ncheckout=%s\n' "$(hy_boot_id)" "$(hy_start "${BASHPID:-$$}")" "$TB_ROOT" \
    >"$NIGHTLY_STATE/hygiene/bed"
}

# ---------------------------------------------------------------------------------------------
# Network.

# hy_in_cidr IP CIDR (IPv4; no fork)
hy_in_cidr() {
  local a b c d x y mask bits=${2#*/}
  [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || return 1
  IFS=. read -r a b c d <<<"$1"
  x=$(((a << 24) | (b << 16) | (c << 8) | d))
  IFS=. read -r a b c d <<<"${2%/*}"
  y=$(((a << 24) | (b << 16) | (c << 8) | d))
  mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  [ $((x & mask)) = $((y & mask)) ]
}
# hy_chain_name NAME ID: the bridge plugin's masquerade chain (utils.FormatChainName).
hy_chain_name() { printf 'CNI-%s' "$(printf '%s%s' "$1" "$2" | sha512sum | cut -c1-24)"; }
# hy_chain_names NAME ID...: "ID CHAIN" for each ID, with one sha512sum for all of them.
hy_chain_names() {
  local name=$1 d i=0 id
  shift
  [ $# -gt 0 ] || return 0
  d=$(mktemp -d)
  for id in "$@"; do printf '%s%s' "$name" "$id" >"$d/$i"; i=$((i + 1)); done
  i=0
  for id in "$@"; do echo "$d/$i"; i=$((i + 1)); done | xargs sha512sum | while read -r sum f; do
    printf '%s CNI-%s\n' "${*:$((${f##*/} + 1)):1}" "${sum:0:24}"
  done
  rm -rf "$d"
}

# hy_net_ids DIR: the CNI container IDs of our network: from our rules' comments, host-local's
# leases (first line: the ID) and libcni's result cache; also those DIR/hygiene/net.ids kept.
hy_net_ids() {
  local f
  {
    iptables -t nat -S 2>/dev/null | sed -n "s/.*--comment \"name: \\\\\"$TB_NET_NAME\\\\\" id: \\\\\"\([A-Za-z0-9_.:-]*\)\\\\\"\".*/\1/p"
    for f in "$HY_CNI_LIB/networks/$TB_NET_NAME"/*; do
      [ -f "$f" ] && [[ $(basename "$f") =~ ^[0-9.]+$ ]] && head -n1 "$f"
    done
    for f in "$HY_CNI_LIB/results/$TB_NET_NAME"-*; do
      [ -f "$f" ] && f=$(basename "$f") && f=${f#"$TB_NET_NAME"-} && echo "${f%-*}"
    done
    [ -f "$1/hygiene/net.ids" ] && cat "$1/hygiene/net.ids"
  } | grep -E '^[A-Za-z0-9_.:-]+$' | sort -u || true
}

# hy_net_classify DIR: reads `iptables -t TABLE -S` lines ("TABLE<TAB>LINE") on stdin and prints
# each prefixed by "ours", "shared" (the firewall plugin's shared scaffolding) or "other".
# hy_net_load must have filled HY_IDCHAIN (chain → 1) and HY_CHAIN_OF (ID → chain).
hy_net_classify() {
  local t line chain target ip id re_c re_fd re_fs br=${TB_NET_NAME}0
  re_c="--comment \"name: \\\\\"$TB_NET_NAME\\\\\" id: \\\\\"([A-Za-z0-9_.:-]+)\\\\\"\""
  re_fd='^-A CNI-FORWARD -d ([0-9.]+)/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT$'
  re_fs='^-A CNI-FORWARD -s ([0-9.]+)/32 -j ACCEPT$'
  while IFS=$'\t' read -r t line; do
    read -r _ chain _ <<<"$line"
    target=
    [[ $line =~ \ -j\ ([^ ]+) ]] && target=${BASH_REMATCH[1]}
    if [[ $line == -P* ]]; then
      continue
    elif [[ $line == -N* ]]; then
      if [ "$t" = nat ] && [ -n "${HY_IDCHAIN[$chain]:-}" ]; then
        echo "ours	$t	$line"
      elif [ "$t" = filter ] && { [ "$chain" = CNI-FORWARD ] || [ "$chain" = CNI-ADMIN ]; }; then
        echo "shared	$t	$line"
      else
        echo "other	$t	$line"
      fi
      continue
    fi
    if [ "$t" = nat ] && [[ $line =~ $re_c ]]; then
      id=${BASH_REMATCH[1]}
      ip=${HY_CHAIN_OF[$id]:-}
      if [ -n "$ip" ] && { [ "$chain" = "$ip" ] || [ "$target" = "$ip" ]; }; then echo "ours	$t	$line"; continue; fi
    fi
    if [ "$t" = filter ] && { [[ $line =~ $re_fd ]] || [[ $line =~ $re_fs ]]; } &&
      hy_in_cidr "${BASH_REMATCH[1]}" "$TB_NET_CIDR"; then
      echo "ours	$t	$line"
      continue
    fi
    if [[ " $line " == *" -i $br "* || " $line " == *" -o $br "* ]]; then
      echo "ours	$t	$line"
      continue
    fi
    if [ "$t" = filter ] && { [ "$line" = '-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD' ] ||
      [ "$line" = '-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN' ]; }; then
      echo "shared	$t	$line"
      continue
    fi
    echo "other	$t	$line"
  done
}

# hy_net_rules: every chain and rule of filter and nat, as "TABLE<TAB>LINE".
hy_net_rules() {
  local t
  for t in filter nat; do iptables -t "$t" -S 2>/dev/null | sed "s/^/$t\t/"; done
}

# hy_net_load DIR: fills HY_IDCHAIN (chain → 1) and HY_CHAIN_OF (ID → chain) with our
# container IDs' masquerade chains.
hy_net_load() {
  local id c
  declare -gA HY_IDCHAIN=() HY_CHAIN_OF=()
  # shellcheck disable=SC2046 # IDs are [A-Za-z0-9_.:-]+
  while read -r id c; do
    HY_IDCHAIN[$c]=1 HY_CHAIN_OF[$id]=$c
  done < <(hy_chain_names "$TB_NET_NAME" $(hy_net_ids "$1"))
}

# hy_shared_ours DIR: the firewall plugin's shared chains are ours to remove: both were created
# while the bed was up (not in DIR/chains.filter.before), and, but for our rules and their own two
# jumps, nothing is in them or jumps to them.
hy_shared_ours() {
  local dir=$1 c
  [ -f "$dir/chains.filter.before" ] || return 1
  for c in CNI-FORWARD CNI-ADMIN; do
    grep -qxF "$c" "$dir/chains.filter.before" && return 1
  done
  ! hy_net_rules | hy_net_classify "$dir" | awk -F'\t' '
    $1 == "other" && $2 == "filter" && ($3 ~ /^-A CNI-(FORWARD|ADMIN) / || $3 ~ / -j CNI-(FORWARD|ADMIN)( |$)/) {found=1}
    END {exit !found}'
}

# hy_forwarders DIR: what else on the host may need ip_forward: chains and FORWARD/PREROUTING/
# POSTROUTING rules that are not ours, links of forwarding kinds that are not our bridge or its
# ports. One line each, comparable with DIR/hygiene/forwarders.before.
hy_forwarders() {
  local dir=$1 br=${TB_NET_NAME}0 line seg name kind
  hy_net_load "$dir"
  hy_net_rules | hy_net_classify "$dir" | awk -F'\t' '
    $1 == "other" && $3 ~ /^-N / {print "chain " $2 " " substr($3, 4); next}
    $1 == "other" && $3 ~ /^-A (FORWARD|PREROUTING|POSTROUTING) / {print "rule " $2 " " $3}'
  ip -d -o link show 2>/dev/null | while IFS= read -r line; do
    # ip -o puts a backslash between a link's sections; the third starts with its kind.
    # shellcheck disable=SC2141
    IFS=$'\\' read -r -a seg <<<"$line"
    [ "${#seg[@]}" -ge 3 ] || continue
    read -r kind _ <<<"${seg[2]}"
    read -r _ name _ <<<"${seg[0]}"
    name=${name%:}
    name=${name%@*}
    [[ $HY_FWD_KINDS == *" $kind "* ]] || continue
    [ "$name" = "$br" ] && continue
    [[ " ${seg[0]} " == *" master $br "* ]] && continue
    echo "link $kind $name"
  done
  return 0
}

# hy_net_snapshot DIR: before the engine starts: the chains (chains.TABLE.before, as before),
# ip_forward, every rule, the forwarding users, and which /var/lib/cni folders exist.
hy_net_snapshot() {
  local dir=$1 t d
  mkdir -p "$dir/hygiene"
  for t in filter nat; do iptables -t "$t" -S | awk '$1=="-N"{print $2}' >"$dir/chains.$t.before"; done
  cat "$HY_IP_FORWARD" >"$dir/ip_forward.before"
  hy_net_rules >"$dir/hygiene/iptables.before"
  hy_forwarders "$dir" | sort -u >"$dir/hygiene/forwarders.before"
  for d in "$HY_CNI_LIB" "$HY_CNI_LIB/networks" "$HY_CNI_LIB/results"; do
    [ -d "$d" ] && echo "$d"
  done >"$dir/hygiene/cnilib.before"
  return 0
}

# hy_new_forwarders DIR: forwarding users present now that were not there before the engine.
hy_new_forwarders() {
  local before=$1/hygiene/forwarders.before
  if [ -f "$before" ]; then
    hy_forwarders "$1" | sort -u | comm -13 "$before" -
  else
    hy_forwarders "$1" | sort -u
  fi
}

# hy_ip_forward_verdict DIR: "untouched" (it was not 0, or it is 0), "restore" (ours to put back
# to 0) or "keep: WHY" (another forwarding user appeared while the bed was up).
hy_ip_forward_verdict() {
  local before now new
  before=$(cat "$1/ip_forward.before" 2>/dev/null || echo '?')
  now=$(cat "$HY_IP_FORWARD")
  if [ "$before" != 0 ] || [ "$now" = 0 ]; then echo untouched; return 0; fi
  new=$(hy_new_forwarders "$1")
  if [ -n "$new" ]; then echo "keep: appeared while the bed was up: $(echo "$new" | head -n5 | paste -sd';' -)"; else echo restore; fi
}

# hy_words LINE: HY_W gets the words of a line of `iptables -S`, its quoting undone ("..." around
# words with spaces, \" and \\ inside). Never eval'd: a comment is data.
hy_words() {
  local s=$1 w='' q=0 have=0 i c
  HY_W=()
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    if [ "$c" = $'\\' ] && [ $q = 1 ] && [ $((i + 1)) -lt ${#s} ]; then
      i=$((i + 1)); w+=${s:i:1}; have=1
    elif [ "$c" = '"' ]; then
      q=$((1 - q)); have=1
    elif [ "$c" = ' ' ] && [ $q = 0 ]; then
      [ $have = 0 ] || HY_W+=("$w")
      w='' have=0
    else
      w+=$c; have=1
    fi
  done
  [ $have = 0 ] || HY_W+=("$w")
}

# hy_iptables_delete TABLE LINE: deletes the rule printed as LINE ("-A CHAIN ...") by iptables -S.
hy_iptables_delete() {
  hy_words "$2"
  iptables -t "$1" -D "${HY_W[@]:1}" 2>/dev/null || true
}

# hy_net_foreign_engine: another bed's engine runs on our network name: its rules and leases look
# exactly like ours, so nothing of the network is touched (says so).
hy_net_foreign_engine() {
  local pid state root net
  while read -r pid state root net; do
    if [ "$net" = "$TB_NET_NAME" ]; then
      log "the engine of another bed (pid $pid, state $state) uses network $TB_NET_NAME: its bridge, rules and leases are left alone"
      return 0
    fi
  done < <(hy_foreign_engines)
  return 1
}

# hy_net_cleanup DIR: after the engine stopped: removes our bridge, rules, chains and CNI files,
# then ip_forward by the rule above. Records what it decided in DIR/hygiene/.
hy_net_cleanup() {
  local dir=$1 c t line kind verdict shared=0 f id
  [ -f "$dir/chains.filter.before" ] || return 0 # the engine never started: nothing of ours
  hy_net_foreign_engine && return 0
  mkdir -p "$dir/hygiene"
  hy_net_ids "$dir" >"$dir/hygiene/net.ids"
  hy_net_load "$dir"
  # ip_forward is judged before our bridge goes (its ports are told apart by their master).
  verdict=$(hy_ip_forward_verdict "$dir")
  hy_shared_ours "$dir" && shared=1
  # Rules first (jumps into our chains before the chains), then our chains, then the shared ones.
  hy_net_rules | hy_net_classify "$dir" >"$dir/hygiene/iptables.down"
  while IFS=$'\t' read -r kind t line; do
    [[ $line == -A* ]] || continue
    if [ "$kind" = ours ] || { [ "$kind" = shared ] && [ $shared = 1 ]; }; then hy_iptables_delete "$t" "$line"; fi
  done <"$dir/hygiene/iptables.down"
  for c in "${!HY_IDCHAIN[@]}"; do
    if iptables -t nat -F "$c" 2>/dev/null; then iptables -t nat -X "$c" 2>/dev/null || true; fi
  done
  if [ $shared = 1 ]; then
    for c in CNI-FORWARD CNI-ADMIN; do iptables -t filter -F "$c" 2>/dev/null || true; done
    for c in CNI-FORWARD CNI-ADMIN; do iptables -t filter -X "$c" 2>/dev/null || true; done
  elif iptables -t filter -S CNI-FORWARD >/dev/null 2>&1; then
    log "kept the shared chains CNI-FORWARD/CNI-ADMIN: they were there before the bed, or another CNI network uses them"
  fi
  # Our bridge's ports (host ends of the containers' veth pairs, gone with their namespaces
  # unless one outlived the engine), then the bridge.
  # (No bridge, e.g. after a reboot: nothing to list; pipefail must not stop the cleanup.)
  { ip -o link show master "${TB_NET_NAME}0" 2>/dev/null || true; } | while read -r _ c _; do
    c=${c%:}
    ip link del "${c%@*}" 2>/dev/null || true
  done
  ip link del "${TB_NET_NAME}0" 2>/dev/null || true
  # host-local's leases and libcni's result cache, by our network's name and our container IDs.
  rm -rf "${HY_CNI_LIB:?}/networks/$TB_NET_NAME"
  rm -f "$HY_CNI_LIB/results/$TB_NET_NAME"-*
  while read -r id; do
    for f in "$HY_CNI_LIB/results/"*"-$id-"*; do [ -f "$f" ] && rm -f "$f"; done
  done <"$dir/hygiene/net.ids"
  if [ -f "$dir/hygiene/cnilib.before" ]; then
    for f in "$HY_CNI_LIB/results" "$HY_CNI_LIB/networks" "$HY_CNI_LIB"; do
      grep -qxF "$f" "$dir/hygiene/cnilib.before" || rmdir "$f" 2>/dev/null || true
    done
  fi
  case $verdict in
  restore) echo 0 >"$HY_IP_FORWARD" ;;
  keep:*)
    log "left net.ipv4.ip_forward=1 (it was 0 before the bed): other forwarding users ${verdict#keep: }"
    echo "${verdict#keep: }" >"$dir/hygiene/ip_forward.kept"
    ;;
  esac
  return 0
}

# hy_net_leftovers DIR: prints what of ours is still on the host (check-clean.sh): rules and chains
# classified ours, the shared chains if they were ours, our bridge and CNI files, and ip_forward
# left at 1 with no other forwarding user. DIR holds what down.sh kept (last-run).
hy_net_leftovers() {
  local dir=$1 verdict f
  hy_net_foreign_engine && return 0
  hy_net_load "$dir"
  hy_net_rules | hy_net_classify "$dir" | awk -F'\t' '$1 == "ours" {print "iptables -t " $2 ": " $3}'
  if iptables -t filter -S CNI-FORWARD >/dev/null 2>&1 && hy_shared_ours "$dir"; then
    echo "iptables -t filter: CNI-FORWARD/CNI-ADMIN, made while the bed was up and used by nothing else"
  fi
  ip link show "${TB_NET_NAME}0" >/dev/null 2>&1 && echo "bridge ${TB_NET_NAME}0"
  [ -e "$HY_CNI_LIB/networks/$TB_NET_NAME" ] && echo "$HY_CNI_LIB/networks/$TB_NET_NAME"
  for f in "$HY_CNI_LIB/results/$TB_NET_NAME"-*; do [ -e "$f" ] && echo "$f"; done
  if [ -f "$dir/ip_forward.before" ]; then
    verdict=$(hy_ip_forward_verdict "$dir")
    [ "$verdict" = restore ] && echo "net.ipv4.ip_forward is 1, was 0, and nothing else that forwards appeared"
  fi
  return 0
}

# `bash testbed/hygiene.sh guard`: the Makefile's first step.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # shellcheck source=testbed/lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
  case "${1:-}" in
  guard) hy_guard ;;
  *) die "usage: hygiene.sh guard" ;;
  esac
fi
