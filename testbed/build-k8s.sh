#!/usr/bin/env bash
# build-k8s.sh: the Kubernetes part of the test bed, from the Go module proxy, cached under
# $NIGHTLY_CACHE by the hash of this script: kube-apiserver, kube-controller-manager and
# kube-scheduler v1.33.3, and kwok v0.7.0 (fake nodes, so pods are scheduled and become Ready).
# All four build in ONE go build of one module (k8s.io/kubernetes with its staging modules pinned
# to v0.33.3, which kwok's own k8s.io requirements resolve to), so shared packages compile once.
# etcd comes from Debian (etcd-server), see install-deps.sh.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

K8S_VERSION=1.33.3
KWOK_VERSION=0.7.0
STAGING="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
  kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"

build() {
  export GOFLAGS=-mod=mod CGO_ENABLED=0
  local tmp m s v
  tmp=$(mktemp -d)
  m=$tmp/m
  mkdir -p "$m"
  {
    echo "module nightly.testbed/k8s"
    echo
    echo "go 1.24"
    echo
    echo "require ("
    echo "	k8s.io/kubernetes v$K8S_VERSION"
    echo "	sigs.k8s.io/kwok v$KWOK_VERSION"
    echo ")"
    echo
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with folders the
    # module zip has not: pin each to its published release.
    v=v0.${K8S_VERSION#1.}
    for s in $STAGING; do echo "replace k8s.io/$s => k8s.io/$s $v"; done
  } >"$m/go.mod"
  cat >"$m/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
GO
  (cd "$m" && go mod tidy)
  mkdir -p "$tmp/bin"
  # kubectl-style clients refuse a server whose version they cannot parse: set it.
  (cd "$m" && go build -trimpath -gcflags=all=-dwarf=false -o "$tmp/bin/" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#1.} \
    -X k8s.io/component-base/version.gitTreeState=clean" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler sigs.k8s.io/kwok/cmd/kwok)
  rm -rf "$K8S_DIR"
  mkdir -p "$K8S_DIR"
  mv "$tmp/bin" "$K8S_DIR/bin"
  rm -rf "$tmp"
}

K8S_DIR=$NIGHTLY_CACHE/k8s-$K8S_VERSION
key=$(key_of <(declare -f build) <(go version) <(echo "$K8S_VERSION $KWOK_VERSION $STAGING"))
if stamp_ok k8s "$key" && [ -x "$K8S_DIR/bin/kube-apiserver" ]; then
  log "kubernetes $K8S_VERSION + kwok $KWOK_VERSION: cached"
  exit 0
fi
log "kubernetes $K8S_VERSION + kwok $KWOK_VERSION: building (about 8 min cold)"
t0=$(date +%s)
build
stamp_set k8s "$key"
log "kubernetes: built in $(($(date +%s) - t0)) s ($(du -sh "$K8S_DIR/bin" | cut -f1))"
