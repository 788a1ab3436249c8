#!/usr/bin/env bash
# Builds the Gitea server of the test bed (part 4) from the Go module proxy: testbed/gitea/go.mod
# pins code.gitea.io/gitea and every dependency (its go.sum). Output: $NIGHTLY_CACHE/gitea/bin/gitea
# and, beside it, the templates, locales and public files Gitea reads from disk (no bindata tag).
# Skips when built with the same inputs.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT=$NIGHTLY_CACHE/gitea
SRC=$TB_ROOT/testbed/gitea

build() {
  local version dir tmp
  version=$(cd "$SRC" && go list -m -f '{{.Version}}' code.gitea.io/gitea)
  dir=$(cd "$SRC" && go mod download -json code.gitea.io/gitea | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  tmp=$(mktemp -d)
  # sqlite: the database is a file in the run's state. main.Version is required: without it the
  # API reports "development", which Gitea's SDK refuses.
  (cd "$SRC" && CGO_ENABLED=1 go build -tags 'sqlite sqlite_unlock_notify' -trimpath -gcflags=all=-dwarf=false \
    -ldflags "-s -w -X main.Version=${version#v}" -o "$tmp/bin/gitea" code.gitea.io/gitea)
  mkdir -p "$tmp/static"
  cp -r "$dir/templates" "$dir/options" "$dir/public" "$tmp/static/"
  chmod -R u+w "$tmp/static"
  rm -rf "$OUT"
  mv "$tmp" "$OUT"
  chmod 755 "$OUT"
}

# The cache key: the build's code (declare -f drops comments), the pinned modules, the Go version.
key=$(key_of <(declare -f build) "$SRC/go.mod" "$SRC/go.sum" "$SRC/tools.go" <(go version))
if stamp_ok gitea "$key" && [ -x "$OUT/bin/gitea" ]; then
  log "gitea: cached"
  exit 0
fi
log "gitea: building from the Go module proxy (about 4 min cold)"
start=$(date +%s)
build
stamp_set gitea "$key"
log "gitea: built in $(($(date +%s) - start)) s ($(du -sh "$OUT/bin/gitea" | cut -f1))"
