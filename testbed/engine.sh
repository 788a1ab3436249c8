#!/usr/bin/env bash
# engine.sh start: runs our Dagger engine as root inside its own mount namespace, so the files it
# needs at fixed paths (/usr/local/bin/dagger-init, the Go SDK blobs, /etc/dagger/engine.json,
# /run/buildkit) live in overlay upper dirs under $NIGHTLY_STATE and the host's /usr, /etc and
# /run stay untouched. The docker.io mirror is our loopback registry.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=testbed/hygiene.sh
source "$TB_ROOT/testbed/hygiene.sh"

[ "${1:-}" = start ] || die "usage: engine.sh start"
S=$NIGHTLY_STATE
# The cache's cap (below); every setting is checked before anything is started or written.
cap=$(disk_bytes NIGHTLY_ENGINE_CACHE_MAX "$NIGHTLY_ENGINE_CACHE_MAX")
engine_settings_ok
# The engine's DNS (dnsmasq, started by the dnsname CNI plugin) binds port 53 on every address, so
# two engines cannot run on one host: say which one is in the way instead of failing obscurely.
for p in $(pgrep -x dagger-engine || true); do
  die "another Dagger engine is running (pid $p, $(tr '\0' ' ' <"/proc/$p/cmdline" | grep -o -- '--root [^ ]*')); stop it first (make testbed-down in its checkout)"
done
if ss -Hlnu 'sport = :53' 2>/dev/null | grep -q .; then
  die "UDP port 53 is taken on this host ($(ss -Hlnup 'sport = :53' | head -1)); the engine's DNS needs it"
fi
ov=$S/overlay
mkdir -p "$ov" "$ENGINE_ROOT" "$S/cni"
for d in usr etc run; do mkdir -p "$ov/$d/upper" "$ov/$d/work"; done
mkdir -p "$ov/usr/upper/local/bin" "$ov/usr/upper/local/share/dagger/content/blobs" \
  "$ov/etc/upper/dagger" "$ov/run/upper/dagger" "$ov/run/upper/buildkit"
cp "$DAGGER_BIN/dagger-init" "$ov/usr/upper/local/bin/dagger-init"
usable=$(df --output=avail -B1M "$ENGINE_ROOT" | tail -1 | tr -d ' ')
if [ "$usable" -lt 4096 ]; then
  log "WARNING: only ${usable} MB usable on the disk of $ENGINE_ROOT; the engine's cache may take up to $NIGHTLY_ENGINE_CACHE_MAX (NIGHTLY_ENGINE_CACHE_MAX) and a run writes gigabytes"
fi
: >"$S/engine.toml"
for p in bridge loopback firewall host-local; do ln -sfn "/usr/lib/cni/$p" "$S/cni/$p"; done
ln -sfn "$DAGGER_BIN/dnsname" "$S/cni/dnsname"

# Remember what the host has before our network, so testbed-down removes exactly what is ours:
# chains, rules, ip_forward, what else forwards, /var/lib/cni's folders (hygiene.sh).
hy_net_snapshot "$S"

# The cache's cap. The engine's default lets its cache grow to 75 % of the disk and wants 20 % of
# it free, counting free blocks as statfs does, blocks reserved for privileged use included: on a
# disk where those are most of the free space (this machine: 160 GB free by that count, 3 GB
# usable), the cache grew to 57 GB and left the disk almost full before its collector ran once.
# But the collector should not run while tests do: it runs a second after the engine starts and
# after every session that ends (at most once a minute), so with the cache over its cap it runs
# all through a suite. The one suite run that way had two tests break in ways that fit records
# removed under them ("snapshot ... does not exist" while committing, a module container's /tmp
# gone; not proven, never seen otherwise). So: when the cache holds more than 2/3 of the cap, an
# engine that only collects starts first, brings it to 1/2 of the cap and stops; the bed's engine
# then has the whole cap, a third of it free for what the bed adds before its collector would run.
gc_policy() { printf '{"policies": [{"maxUsedSpace": %s, "reservedSpace": 2000000000}]}' "$1"; }

digest=$(cat "$IMAGES_DIR/go-sdk.digest")
export DAGGER_GO_SDK_MANIFEST_DIGEST=$digest GOPROXY=${GOPROXY:-$(go env GOPROXY)}
export OV=$ov BLOBS=$IMAGES_DIR/go-sdk/blobs

# start_engine GC_POLICY: starts the engine with that collector policy; returns when it answers.
start_engine() {
  cat >"$ov/etc/upper/dagger/engine.json" <<JSON
{"registries": {"docker.io": {"mirrors": ["127.0.0.1:$TB_MIRROR_PORT"]}}, "gc": $1}
JSON
  # The engine's Go GC: at Go's default (GOGC=100) it took a third of the engine's CPU in a warm
  # suite (pprof, README Measurements), with a ~1.7 GB heap; fewer collections trade memory for it.
  # The inner script expands its variables itself, inside the new namespace.
  # shellcheck disable=SC2016
  GOGC=$NIGHTLY_ENGINE_GOGC GOMEMLIMIT=$NIGHTLY_ENGINE_GOMEMLIMIT \
  setsid unshare --mount --propagation private -- bash -euc '
    for d in usr etc run; do
      mount -t overlay "nightly-$d" -o "lowerdir=/$d,upperdir=$OV/$d/upper,workdir=$OV/$d/work" "/$d"
    done
    mount --bind -o ro "$BLOBS" /usr/local/share/dagger/content/blobs
    # No custom CA certificates for the engine: with any, it runs update-ca-certificates in every
    # Debian-like container before each exec (about 10 s an exec here, minutes under load). The
    # test bed'"'"'s Go image carries the host'"'"'s CAs instead (build-images.sh).
    mount -t tmpfs -o size=64k,mode=0755 nightly-noca /usr/local/share/ca-certificates
    exec "$0" "$@"' \
    "$DAGGER_BIN/dagger-engine" --root "$ENGINE_ROOT" --addr "unix://$S/engine.sock" \
    --network-name "$TB_NET_NAME" --network-cidr "$TB_NET_CIDR" \
    --oci-cni-binary-dir "$S/cni" --oci-cni-pool-size 4 --config "$S/engine.toml" \
    ${NIGHTLY_ENGINE_DEBUG_ADDR:+--debugaddr "$NIGHTLY_ENGINE_DEBUG_ADDR"} \
    >>"$S/engine.log" 2>&1 </dev/null &
  echo $! >"$S/engine.pid"
  for _ in $(seq 1 300); do
    if [ -S "$S/engine.sock" ]; then
      readlink "/proc/$(cat "$S/engine.pid")/ns/mnt" >"$S/engine.mntns"
      # Its identity (pid, start time, boot, executable): down.sh signals nothing else.
      hy_record "$S/engine.pid"
      return 0
    fi
    kill -0 "$(cat "$S/engine.pid")" 2>/dev/null || break
    sleep 0.2
  done
  tail -20 "$S/engine.log" >&2
  die "engine did not start; log: $S/engine.log"
}

used=$(du -sb "$ENGINE_ROOT" | cut -f1)
if [ "$used" -gt $((cap * 2 / 3)) ]; then
  t0=$(date +%s)
  start_engine "$(gc_policy $((cap / 2)))"
  # This call waits for the collection the engine started (one lock), then applies the policy.
  if ! _EXPERIMENTAL_DAGGER_RUNNER_HOST=unix://$S/engine.sock DAGGER_NO_NAG=1 DO_NOT_TRACK=1 \
    "$DAGGER_BIN/dagger" core --progress=plain engine local-cache prune --use-default-policy \
    >"$S/engine-prune.log" 2>&1; then
    log "WARNING: collecting the engine's cache failed (log: $S/engine-prune.log)"
  fi
  hy_stop_pid "$(cat "$S/engine.pid")" 30
  rm -f "$S/engine.sock"
  log "engine cache: $((used / 1000000000)) GB > 2/3 of $NIGHTLY_ENGINE_CACHE_MAX: collected to $(($(du -sb "$ENGINE_ROOT" | cut -f1) / 1000000000)) GB in $(($(date +%s) - t0)) s"
fi
start_engine "$(gc_policy "$cap")"
log "engine: unix://$S/engine.sock (network ${TB_NET_NAME}0 $TB_NET_CIDR)"
