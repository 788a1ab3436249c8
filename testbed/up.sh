#!/usr/bin/env bash
# up.sh: builds (or reuses from $NIGHTLY_CACHE) everything the test bed needs and starts it:
# the docker.io mirror registry, the authenticated registry standing in for Docker Hub, the Maven
# repository server, the Gitea forge, and the Dagger engine. Writes $NIGHTLY_STATE/env for clients. Idempotent: does nothing when already up.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=testbed/hygiene.sh
source "$TB_ROOT/testbed/hygiene.sh"

[ "$(id -u)" = 0 ] || die "the test bed runs the engine as root (mount namespaces, bridge, iptables)"
# One bed per host: while another checkout's bed is up, refuse (3) before touching anything.
hy_guard || exit 3
# A bad engine setting is named before a build starts (engine.sh uses them at the end).
engine_settings_ok
if hy_bed_up; then
  log "already up (state $NIGHTLY_STATE); 'make testbed-down' stops it"
  exit 0
fi
# A half-started or crashed earlier run: clean it first.
if [ -d "$NIGHTLY_STATE" ]; then bash "$TB_ROOT/testbed/down.sh"; fi
# Claim the host (released by down.sh); fails if another checkout claimed it meanwhile.
hy_claim || exit 3

start=$(date +%s)
bash "$TB_ROOT/testbed/install-deps.sh"
mkdir -p "$NIGHTLY_CACHE" "$NIGHTLY_STATE"
hy_mark_bed
# The standard library with the flags of the three cgo-less Go builds below (and of `make unit`),
# compiled once here: the builds start side by side, and each would otherwise compile it itself.
CGO_ENABLED=0 go build -trimpath -gcflags=all=-dwarf=false std
# The two slow, independent builds run side by side: Go compiles, mmdebstrap downloads.
bash "$TB_ROOT/testbed/build-dagger.sh" &
dagger_pid=$!
# Part 3 (the deploy stage): Pulumi CLI + Kubernetes provider, and the Kubernetes control plane.
bash "$TB_ROOT/testbed/build-pulumi.sh" &
pulumi_pid=$!
bash "$TB_ROOT/testbed/build-k8s.sh" &
k8s_pid=$!
bash "$TB_ROOT/testbed/build-gitea.sh" &
gitea_pid=$!
bash "$TB_ROOT/testbed/build-images.sh" busybox
bash "$TB_ROOT/testbed/build-images.sh" maven
bash "$TB_ROOT/testbed/build-images.sh" jre
bash "$TB_ROOT/testbed/build-images.sh" shellcheck
bash "$TB_ROOT/testbed/build-images.sh" git
wait "$dagger_pid" || die "building dagger failed"
# The Go SDK image needs only Dagger's codegen: it builds while Pulumi, Kubernetes and Gitea still
# compile (cold, those finish last), not after them.
bash "$TB_ROOT/testbed/build-images.sh" go-sdk
wait "$pulumi_pid" || die "building pulumi failed"
wait "$k8s_pid" || die "building kubernetes failed"
wait "$gitea_pid" || die "building gitea failed"

# The mirror keeps its data in the cache: a warm start pushes nothing.
bash "$TB_ROOT/testbed/registry.sh" start mirror "$TB_MIRROR_PORT" "$NIGHTLY_CACHE/mirror-registry"
mirror=127.0.0.1:$TB_MIRROR_PORT
push() { "$NIGHTLY_CACHE/bin/mkimage" push -layout "$IMAGES_DIR/$1" -tag "$1" -ref "$mirror/$2" >/dev/null; }
push busybox library/busybox:1.37.0
push maven library/maven:3.9.9-eclipse-temurin-17
# The management API's Java runtime: Debian's JRE, laid out as the real image (JAVA_HOME=/opt/java/openjdk).
push jre library/eclipse-temurin:17.0.13_11-jre
# The buildkit linter: built in a Go image, run in a ShellCheck image.
push go-sdk library/golang:1.26.8-bookworm
push shellcheck koalaman/shellcheck-alpine:v0.10.0
# The deploy stage's program runs in the Pulumi image (Debian + the CLI at /pulumi/bin, as the real one).
push pulumi pulumi/pulumi-base:3.274.1
# The GitOps stage clones, commits and pushes in a git image.
push git alpine/git:v2.49.1

# "Docker Hub": basic auth with a password made for this run only.
umask 077
head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$NIGHTLY_STATE/hub-password"
htpasswd -Bbn "$TB_HUB_USER" "$(cat "$NIGHTLY_STATE/hub-password")" >"$NIGHTLY_STATE/hub.htpasswd"
umask 022
bash "$TB_ROOT/testbed/registry.sh" start hub "$TB_HUB_PORT" "$NIGHTLY_STATE/hub-registry" "$NIGHTLY_STATE/hub.htpasswd"
# A registry with Docker Hub's token auth (401 for missing repositories), and the fault proxy in
# front of the hub; testbed/regfront/main.go says what each reproduces.
bash "$TB_ROOT/testbed/regfront.sh" start

bash "$TB_ROOT/testbed/maven-repo.sh" start
bash "$TB_ROOT/testbed/gitea.sh" start
bash "$TB_ROOT/testbed/k8s.sh" start
bash "$TB_ROOT/testbed/pulumi-state.sh" start
bash "$TB_ROOT/testbed/engine.sh" start

cat >"$NIGHTLY_STATE/env" <<ENV
# Written by testbed/up.sh: source it to use the test bed's engine and registries.
export _EXPERIMENTAL_DAGGER_RUNNER_HOST=unix://$NIGHTLY_STATE/engine.sock
export _EXPERIMENTAL_DAGGER_CLI_BIN=$DAGGER_BIN/dagger
export DAGGER_NO_NAG=1 DO_NOT_TRACK=1 DAGGER_NO_UPDATE_CHECK=1
# The clients (a suite starts ~150 dagger CLIs) collect garbage less often: a publish call's CLI
# took 1.2 → 0.9 CPU-s at GOGC=400 (28 → 4 collections), for ~70 MB more memory.
export GOGC=400
export PATH=$DAGGER_BIN:\$PATH
export NIGHTLY_TESTBED_MIRROR=$mirror
export NIGHTLY_TESTBED_HUB=127.0.0.1:$TB_HUB_PORT
export NIGHTLY_TESTBED_HUB_USER=$TB_HUB_USER
export NIGHTLY_TESTBED_HUB_PASSWORD_FILE=$NIGHTLY_STATE/hub-password
export NIGHTLY_TESTBED_HUB_LOG=$NIGHTLY_STATE/registry-hub.log
export NIGHTLY_TESTBED_DOCKERHUB=127.0.0.1:$TB_DOCKERHUB_PORT
export NIGHTLY_TESTBED_DOCKERHUB_USER=$TB_DOCKERHUB_USER
export NIGHTLY_TESTBED_DOCKERHUB_PASSWORD_FILE=$NIGHTLY_STATE/dockerhub-password
export NIGHTLY_TESTBED_DOCKERHUB_LOG=$NIGHTLY_STATE/regfront-dockerhub.log
export NIGHTLY_TESTBED_FAULTY=127.0.0.1:$TB_FAULTY_PORT
export NIGHTLY_TESTBED_FAULTY_CONTROL=127.0.0.1:$TB_FAULTY_CONTROL_PORT
export NIGHTLY_TESTBED_FAULTY_LOG=$NIGHTLY_STATE/regfront-faulty.log
export NIGHTLY_TESTBED_MAVEN_PORT=$TB_MAVEN_PORT
export NIGHTLY_TESTBED_MAVEN_USER=$TB_MAVEN_USER
export NIGHTLY_TESTBED_MAVEN_PASSWORD_FILE=$NIGHTLY_STATE/maven-password
export NIGHTLY_TESTBED_K8S_PORT=$TB_K8S_PORT
export NIGHTLY_TESTBED_KUBECONFIG=$NIGHTLY_STATE/k8s/admin.kubeconfig
export NIGHTLY_TESTBED_PG_PORT=$TB_PG_PORT
export NIGHTLY_TESTBED_PULUMI_BACKEND_ENV=$NIGHTLY_STATE/pulumi/backend.env
export NIGHTLY_TESTBED_PULUMI_PASSPHRASE_FILE=$NIGHTLY_STATE/pulumi/passphrase
export NIGHTLY_TESTBED_PLUGINS_PORT=$TB_PLUGINS_PORT
export NIGHTLY_TESTBED_GITEA=127.0.0.1:$TB_GITEA_PORT
export NIGHTLY_TESTBED_GITEA_USER=$TB_GITEA_USER
export NIGHTLY_TESTBED_GITEA_TOKEN_FILE=$NIGHTLY_STATE/gitea-token
export NIGHTLY_TESTBED_ENGINE_STATE=$ENGINE_ROOT
ENV
# The identity of every server started above (those whose script did not record it): down.sh
# signals nothing else.
hy_record_all
log "up in $(($(date +%s) - start)) s; clients: source $NIGHTLY_STATE/env"
