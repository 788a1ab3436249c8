#!/usr/bin/env bash
# Builds Dagger (engine, CLI, dagger-init, dnsname, codegen) from its Go module source, with the
# test bed's own distconsts package. Output: $NIGHTLY_CACHE/dagger-<version>/bin. Skips when built.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build() {
  # The checksum database has no entry for github.com/dagger/dagger@v0.19.10.
  export GONOSUMDB=github.com/dagger/dagger GOFLAGS=-mod=mod
  local src out modcache ldflags
  tmp=$(mktemp -d) # global: the EXIT trap removes it after build returns
  trap 'chmod -R u+w "${tmp:-/nonexistent}" 2>/dev/null; rm -rf "${tmp:-/nonexistent}"' EXIT
  (cd "$tmp" && go mod init tmp >/dev/null 2>&1 &&
    go mod download github.com/dagger/dagger@"$DAGGER_VERSION" dagger.io/dagger@"$DAGGER_VERSION")
  modcache=$(go env GOMODCACHE)
  src=$tmp/src
  cp -r "$modcache/github.com/dagger/dagger@$DAGGER_VERSION" "$src"
  chmod -R u+w "$src"
  # Nested modules the zip lacks: the Go SDK (served on its own) and distconsts (ours).
  cp -r "$modcache/dagger.io/dagger@$DAGGER_VERSION" "$src/sdk/go"
  chmod -R u+w "$src/sdk/go"
  mkdir -p "$src/engine"
  rm -rf "$src/engine/distconsts"
  cp -r "$TB_ROOT/testbed/distconsts" "$src/engine/distconsts"

  ldflags="-s -w -X github.com/dagger/dagger/engine.Version=$DAGGER_VERSION -X github.com/dagger/dagger/engine.Tag=$DAGGER_VERSION"
  out=$tmp/bin
  mkdir -p "$out"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -gcflags=all=-dwarf=false -ldflags "$ldflags" -o "$out/" \
    ./cmd/engine ./cmd/dagger ./cmd/init ./cmd/dnsname ./cmd/codegen)
  mv "$out/engine" "$out/dagger-engine"
  mv "$out/init" "$out/dagger-init"
  rm -rf "$DAGGER_BIN"
  mkdir -p "$DAGGER_DIR"
  mv "$out" "$DAGGER_BIN"
}

# The cache key: the build's code (declare -f drops comments), our distconsts, the Go version.
key=$(key_of <(declare -f build) "$TB_ROOT/testbed/distconsts/consts.go" <(go version) <(echo "$DAGGER_VERSION"))
if stamp_ok dagger "$key" && [ -x "$DAGGER_BIN/dagger-engine" ]; then
  log "dagger $DAGGER_VERSION: cached"
  exit 0
fi
log "dagger $DAGGER_VERSION: building from the Go module proxy (about 4-9 min cold)"
build
stamp_set dagger "$key"
log "dagger $DAGGER_VERSION: built ($(du -sh "$DAGGER_BIN" | cut -f1))"
