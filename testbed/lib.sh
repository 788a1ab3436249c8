#!/usr/bin/env bash
# Shared settings of the test bed. Every value can be overridden from the environment.
# Sourced by the other testbed scripts; never run on its own.

set -euo pipefail

TB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TB_ROOT

# What the test bed builds (binaries, images, engine cache) lives here and survives `testbed-down`.
NIGHTLY_CACHE=${NIGHTLY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nightly-testbed}
# What a running test bed owns (pids, logs, registry data, env file); removed by `testbed-down`.
NIGHTLY_STATE=${NIGHTLY_STATE:-$TB_ROOT/.testbed}

DAGGER_VERSION=${DAGGER_VERSION:-v0.19.10}
# The most the engine's cache (ENGINE_ROOT) may hold before its garbage collector trims it, least
# recently used first; the bed starts with it under half that (engine.sh says why, and why not
# the engine's own default).
NIGHTLY_ENGINE_CACHE_MAX=${NIGHTLY_ENGINE_CACHE_MAX:-30GB}
# The engine's Go GC (engine.sh, start_engine, says why not Go's default GOGC=100).
NIGHTLY_ENGINE_GOGC=${NIGHTLY_ENGINE_GOGC:-400}
NIGHTLY_ENGINE_GOMEMLIMIT=${NIGHTLY_ENGINE_GOMEMLIMIT:-8GiB}
# NIGHTLY_ENGINE_DEBUG_ADDR (optional, 127.0.0.1:PORT only): the engine serves Go's pprof there,
# to see where its CPU goes (`go tool pprof http://ADDR/debug/pprof/profile?seconds=120`).
# Loopback ports: the docker.io mirror (public image names), the authenticated "Docker Hub"
# stand-in, and the Maven repository server. Avoid 5000/8080, often taken.
TB_MIRROR_PORT=${TB_MIRROR_PORT:-47500}
TB_HUB_PORT=${TB_HUB_PORT:-47501}
TB_MAVEN_PORT=${TB_MAVEN_PORT:-47502}
# The forge of the GitOps stage (testbed/gitea.sh: Gitea) and its admin user.
TB_GITEA_PORT=${TB_GITEA_PORT:-47530}
TB_GITEA_USER=${TB_GITEA_USER:-nightly}
export TB_GITEA_PORT TB_GITEA_USER
# The deploy stage's servers: kube-apiserver (HTTPS) and etcd, the controller-manager's and the
# scheduler's secure ports, PostgreSQL (the Pulumi state), and the Pulumi plugin server.
TB_K8S_PORT=${TB_K8S_PORT:-47520}
TB_ETCD_PORT=${TB_ETCD_PORT:-47521}
TB_ETCD_PEER_PORT=${TB_ETCD_PEER_PORT:-47522}
TB_K8S_CM_PORT=${TB_K8S_CM_PORT:-47525}
TB_K8S_SCHED_PORT=${TB_K8S_SCHED_PORT:-47526}
TB_PG_PORT=${TB_PG_PORT:-47523}
TB_PLUGINS_PORT=${TB_PLUGINS_PORT:-47524}
# The registry that authenticates like Docker Hub (token auth), and the fault-injecting proxy in
# front of the hub with its control API (testbed/regfront.sh).
TB_DOCKERHUB_PORT=${TB_DOCKERHUB_PORT:-47503}
TB_FAULTY_PORT=${TB_FAULTY_PORT:-47504}
TB_FAULTY_CONTROL_PORT=${TB_FAULTY_CONTROL_PORT:-47505}
# The engine's container network: bridge "${TB_NET_NAME}0" on TB_NET_CIDR.
TB_NET_NAME=${TB_NET_NAME:-nightlytb}
TB_NET_CIDR=${TB_NET_CIDR:-10.213.0.0/16}
# Credentials of the local "Docker Hub" and Maven server: test-only, generated per start.
TB_HUB_USER=${TB_HUB_USER:-nightly}
TB_DOCKERHUB_USER=${TB_DOCKERHUB_USER:-nightly}
TB_MAVEN_USER=${TB_MAVEN_USER:-deployer}

export TB_DOCKERHUB_PORT TB_FAULTY_PORT TB_FAULTY_CONTROL_PORT TB_DOCKERHUB_USER
export TB_K8S_PORT TB_ETCD_PORT TB_ETCD_PEER_PORT TB_K8S_CM_PORT TB_K8S_SCHED_PORT TB_PG_PORT TB_PLUGINS_PORT
export NIGHTLY_CACHE NIGHTLY_STATE DAGGER_VERSION TB_MIRROR_PORT TB_HUB_PORT TB_MAVEN_PORT \
  TB_NET_NAME TB_NET_CIDR TB_HUB_USER TB_MAVEN_USER

DAGGER_DIR=$NIGHTLY_CACHE/dagger-$DAGGER_VERSION
DAGGER_BIN=$DAGGER_DIR/bin
IMAGES_DIR=$NIGHTLY_CACHE/images
# NIGHTLY_ENGINE_ROOT: another engine state folder (fresh-engines.sh starts engines from nothing).
ENGINE_ROOT=${NIGHTLY_ENGINE_ROOT:-$NIGHTLY_CACHE/engine-state}
export DAGGER_DIR DAGGER_BIN IMAGES_DIR ENGINE_ROOT

log() { printf '[testbed %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# disk_bytes NAME VALUE: VALUE (bytes, or N with KB, MB, GB, TB: powers of 1000, or KiB, MiB,
# GiB, TiB) in bytes; dies naming the setting NAME when it is neither.
disk_bytes() {
  local n u
  [[ $2 =~ ^([0-9]+)([KMGT]i?B)?$ ]] || die "$1=$2: want bytes or a whole number with KB, MB, GB, TB (or KiB ... TiB), e.g. 30GB"
  n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]}
  case $u in
  '') echo "$n" ;;
  KB) echo $((n * 1000)) ;; MB) echo $((n * 1000 ** 2)) ;; GB) echo $((n * 1000 ** 3)) ;; TB) echo $((n * 1000 ** 4)) ;;
  KiB) echo $((n << 10)) ;; MiB) echo $((n << 20)) ;; GiB) echo $((n << 30)) ;; TiB) echo $((n << 40)) ;;
  esac
}

# stamp_ok NAME KEY: true when the build step NAME was last completed with the same KEY.
stamp_ok() { [ -f "$NIGHTLY_CACHE/stamps/$1" ] && [ "$(cat "$NIGHTLY_CACHE/stamps/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$NIGHTLY_CACHE/stamps"; printf '%s' "$2" >"$NIGHTLY_CACHE/stamps/$1"; }
# key_of FILE...: a content hash of the files that define a build step.
key_of() { cat "$@" | sha256sum | cut -c1-16; }

# Reproducible tar of a folder's content (sorted, fixed owner and mtime).
repro_tar() { # repro_tar DIR OUT [tar args...]
  local dir=$1 out=$2; shift 2
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf "$out" "$@" .
}

# engine_settings_ok dies naming the first bad engine setting (before anything is built or started).
engine_settings_ok() {
  disk_bytes NIGHTLY_ENGINE_CACHE_MAX "$NIGHTLY_ENGINE_CACHE_MAX" >/dev/null
  [[ "$NIGHTLY_ENGINE_GOGC" =~ ^([0-9]+|off)$ ]] ||
    die "NIGHTLY_ENGINE_GOGC=$NIGHTLY_ENGINE_GOGC: want a percentage (e.g. 400) or off"
  [[ "$NIGHTLY_ENGINE_GOMEMLIMIT" =~ ^[0-9]+(B|KiB|MiB|GiB|TiB)?$ ]] ||
    die "NIGHTLY_ENGINE_GOMEMLIMIT=$NIGHTLY_ENGINE_GOMEMLIMIT: want a size as Go reads it (e.g. 8GiB)"
  [[ "${NIGHTLY_ENGINE_DEBUG_ADDR:-}" =~ ^(127\.0\.0\.1:[0-9]{1,5})?$ ]] ||
    die "NIGHTLY_ENGINE_DEBUG_ADDR=$NIGHTLY_ENGINE_DEBUG_ADDR: want 127.0.0.1:PORT (the engine's pprof listens on loopback only)"
}
