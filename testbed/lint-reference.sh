#!/usr/bin/env bash
# Compares nightly's BuildKit checks (tools/dockerlint) with a real BuildKit on the Dockerfiles of
# fixtures/lint-corpus: buildkitd + buildctl v0.34.2, built from the Go module proxy (cached under
# $NIGHTLY_CACHE, keyed by version), answering the Dockerfile frontend's lint request as
# `docker build --check` sends it. A benchmark-style run, like `make bench`: it needs the test
# bed's docker.io mirror (source .testbed/env), starts its own buildkitd on a unix socket in a
# temporary folder (no TCP port, so it cannot collide with the Dagger engine) and stops it at the
# end. It rewrites fixtures/lint-corpus/reference/ and images.json, and prints the table the
# README records. See testbed/lintref.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The BuildKit version tools/dockerlint links (v0.34.2): the reference must be the same code.
BUILDKIT_VERSION=$(cd "$TB_ROOT/tools/dockerlint" && go list -m -f '{{.Version}}' github.com/moby/buildkit)
BK_BIN=$NIGHTLY_CACHE/bin/buildkit-$BUILDKIT_VERSION
[ -n "${NIGHTLY_TESTBED_MIRROR:-}" ] || die "the test bed's mirror is not known: source .testbed/env (make testbed)"

build_buildkit() {
  if stamp_ok buildkit "$BUILDKIT_VERSION" && [ -x "$BK_BIN/buildkitd" ] && [ -x "$BK_BIN/buildctl" ]; then
    log "buildkitd + buildctl $BUILDKIT_VERSION: cached"; return
  fi
  log "buildkitd + buildctl $BUILDKIT_VERSION: building from the Go module proxy (several minutes)"
  # BuildKit's go.mod has exclude directives, which `go install pkg@version` refuses: build from
  # the module's own source, as the main module, so its go.mod and go.sum pin every dependency.
  local src tmp
  src=$(cd "$TB_ROOT/tools/dockerlint" && go mod download -json github.com/moby/buildkit | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  tmp=$(mktemp -d)
  cp -r "$src/." "$tmp/" && chmod -R u+w "$tmp"
  mkdir -p "$BK_BIN"
  (cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags="-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
    -o "$BK_BIN/" ./cmd/buildkitd ./cmd/buildctl)
  rm -rf "$tmp"
  stamp_set buildkit "$BUILDKIT_VERSION"
  log "buildkitd + buildctl $BUILDKIT_VERSION: built"
}

build_buildkit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$TB_ROOT/tools/dockerlint" && go build -trimpath -o "$work/dockerlint" .)
(cd "$TB_ROOT/testbed" && go build -o "$work/lintref" ./lintref)
cd "$TB_ROOT"
"$work/lintref" -corpus fixtures/lint-corpus -buildkitd "$BK_BIN/buildkitd" -buildctl "$BK_BIN/buildctl" \
  -dockerlint "$work/dockerlint" -state "$work/buildkitd" -mirror "$NIGHTLY_TESTBED_MIRROR"
