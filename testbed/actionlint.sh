#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows) with actionlint, built once from the Go
# module proxy at the version testbed/actionlint/go.mod pins (its go.sum pins every dependency)
# and cached under $NIGHTLY_CACHE by the hash of its inputs. actionlint also runs ShellCheck on
# every run: script when shellcheck is on PATH (`make lint` needs it too).
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC=$TB_ROOT/testbed/actionlint
OUT=$NIGHTLY_CACHE/actionlint

build() {
  local tmp
  tmp=$(mktemp -d)
  (cd "$SRC" && CGO_ENABLED=0 go build -trimpath -gcflags=all=-dwarf=false -ldflags '-s -w' -o "$tmp/actionlint" github.com/rhysd/actionlint/cmd/actionlint)
  rm -rf "$OUT"
  mkdir -p "$OUT"
  mv "$tmp/actionlint" "$OUT/actionlint"
  rmdir "$tmp"
}

key=$(key_of <(declare -f build) "$SRC/go.mod" "$SRC/go.sum" <(go version))
if ! stamp_ok actionlint "$key" || [ ! -x "$OUT/actionlint" ]; then
  log "actionlint: building $(cd "$SRC" && go list -m -f '{{.Version}}' github.com/rhysd/actionlint) from the Go module proxy"
  build
  stamp_set actionlint "$key"
fi
cd "$TB_ROOT"
"$OUT/actionlint" -version | head -n1 >&2
"$OUT/actionlint" -no-color .github/workflows/*.yml
log "actionlint: .github/workflows clean"
