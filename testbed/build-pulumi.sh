#!/usr/bin/env bash
# build-pulumi.sh: the Pulumi part of the test bed, from the Go module proxy and Debian, cached
# under $NIGHTLY_CACHE by the hash of this script:
#   $PULUMI_DIR/bin/pulumi                      the Pulumi CLI v3.274.1
#   $PULUMI_DIR/bin/pulumi-resource-kubernetes  the Kubernetes provider v4.32.0
#   $PULUMI_DIR/plugins/pulumi-resource-kubernetes-v4.32.0-linux-amd64.tar.gz
#                                               the provider as Pulumi's plugin download serves it
#   $IMAGES_DIR/pulumi                          served as docker.io/pulumi/pulumi-base:3.274.1: Debian
#                                               minbase + the CLI at /pulumi/bin, as the real image
# Both binaries build in ONE go build of one module, so the packages they share (the Pulumi SDK,
# gRPC, the codegen schema) compile once.
# shellcheck disable=SC2016
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PULUMI_VERSION=3.274.1
K8S_PROVIDER_VERSION=4.32.0
# The provider's module has no v4.32.0 tag of its own: this commit is the one sdk/v4 v4.32.0 ships.
K8S_PROVIDER_MODULE=v4.0.0-20260115033456-f47bc2d6f199

# trim_kinds KINDS_GO: rewrites yaml/v2's kinds.go to IsListKind (kept as is) and a
# RegisterResource that registers every kind under the type token the typed switch gives it:
# "kubernetes:<apiVersion>:<kind>", but "kubernetes:core/v1:<kind>" for the core group's kinds.
# It first checks that rule against every typed branch and stops if one differs.
trim_kinds() {
  local f=$1 out core
  out=$(mktemp)
  grep -q 'err := ctx.RegisterResource(fmt.Sprintf("kubernetes:%s:%s", apiVersion, kind), name, props, &res, opts...)' "$f" ||
    die "kinds.go has no generic branch: the trim does not apply to this SDK"
  awk '/^func RegisterResource/ { on = 1 }
    on && /^\tcase "/ { split($0, q, "\""); full = q[2]; n = split(full, p, "/"); kind = p[n]; av = substr(full, 1, length(full) - length(kind) - 1) }
    on && /ctx.RegisterResource\("kubernetes:/ && full != "" {
      split($0, q, "\""); want = "kubernetes:" (av == "v1" ? "core/v1" : av) ":" kind
      if (q[2] != want) { print "kinds.go: " full " registers " q[2] ", not " want > "/dev/stderr"; bad = 1 }
      checked++; full = "" }
    END { if (bad || checked < 100) exit 1 }' "$f" || die "kinds.go's type tokens do not follow the rule the trim relies on"
  core=$(awk '/^func RegisterResource/ { on = 1 } on && /^\tcase "v1\/[A-Za-z]+":/ { split($0, q, "\""); sub("v1/", "", q[2]); printf "\t%s: true,\n", "\"" q[2] "\"" }' "$f")
  {
    sed -n '1,/^import (/p' "$f" | sed '$d'
    printf 'import (\n\t"fmt"\n\n\t"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"\n\t"github.com/pulumi/pulumi/sdk/v3/go/pulumi"\n)\n\n'
    sed -n '/^func IsListKind(/,/^func RegisterResource(/p' "$f" | sed '$d'
    printf '// coreKinds are the kinds of the core group ("v1"), whose type tokens say "core/v1".\nvar coreKinds = map[string]bool{\n%s\n}\n\n' "$core"
    cat <<'GO'
func RegisterResource(ctx *pulumi.Context, apiVersion, kind, name string, props pulumi.Input,
	opts ...pulumi.ResourceOption) (pulumi.CustomResource, error) {
	group := apiVersion
	if apiVersion == "v1" && coreKinds[kind] {
		group = "core/v1"
	}
	var res apiextensions.CustomResource
	err := ctx.RegisterResource(fmt.Sprintf("kubernetes:%s:%s", group, kind), name, props, &res, opts...)
	if err != nil {
		return nil, err
	}
	return &res, nil
}
GO
  } >"$out"
  gofmt "$out" >"$f" || die "the trimmed kinds.go does not parse"
  rm -f "$out"
}

build_binaries() {
  export GOFLAGS=-mod=mod CGO_ENABLED=0
  local tmp modcache prov
  tmp=$(mktemp -d)
  modcache=$(go env GOMODCACHE)
  (cd "$tmp" && go mod init tmp >/dev/null 2>&1 &&
    go mod download github.com/pulumi/pulumi-kubernetes/provider/v4@"$K8S_PROVIDER_MODULE")
  # The provider module, patched for pulumi v3.274.1: its schema generator's Provider field
  # became a pointer.
  prov=$tmp/provider
  cp -r "$modcache/github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_MODULE" "$prov"
  chmod -R u+w "$prov"
  sed -i 's/^\(\s*Provider: \)pschema.ResourceSpec{/\1\&pschema.ResourceSpec{/' "$prov/pkg/gen/schema.go"
  grep -q 'Provider: &pschema.ResourceSpec{' "$prov/pkg/gen/schema.go" || die "provider patch did not apply"
  # The SDK, trimmed for compile time: the provider's yaml/v2 component (which Chart v4 uses)
  # registers each object through one switch over every kind of every API version, importing the
  # typed SDK of all ~90 API groups to pick the Go struct the object's outputs decode into; the
  # struct is never read. trim_kinds keeps one generic registration under the same type token per
  # kind (checked against every typed branch), so the provider receives the same requests, and
  # the build skips compiling the unused groups (31 MB of generated Go).
  sdk=$tmp/sdk
  (cd "$tmp" && go mod download github.com/pulumi/pulumi-kubernetes/sdk/v4@v"$K8S_PROVIDER_VERSION")
  cp -r "$modcache/github.com/pulumi/pulumi-kubernetes/sdk/v4@v$K8S_PROVIDER_VERSION" "$sdk"
  chmod -R u+w "$sdk"
  trim_kinds "$sdk/go/kubernetes/yaml/v2/kinds.go"
  mkdir -p "$tmp/m/cmd"
  cp -r "$prov/cmd/pulumi-resource-kubernetes" "$tmp/m/cmd/"
  chmod -R u+w "$tmp/m"
  cat >"$tmp/m/go.mod" <<MOD
module nightly.testbed/pulumi

go 1.25

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi-kubernetes/provider/v4 $K8S_PROVIDER_MODULE
	github.com/pulumi/pulumi-kubernetes/sdk/v4 v$K8S_PROVIDER_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

replace github.com/pulumi/pulumi-kubernetes/provider/v4 => ../provider

replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => ../sdk
MOD
  cat >"$tmp/m/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
  (cd "$tmp/m" && { go mod tidy >/dev/null 2>&1 || go mod tidy; })
  # The provider embeds its schema with the version set; the module zip lacks the generated files.
  (cd "$tmp/m/cmd/pulumi-resource-kubernetes" && VERSION=$K8S_PROVIDER_VERSION go run -trimpath generate.go)
  mkdir -p "$tmp/bin"
  (cd "$tmp/m" && go build -trimpath -gcflags=all=-dwarf=false -o "$tmp/bin/" -ldflags "-s -w \
    -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION \
    -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ./cmd/pulumi-resource-kubernetes)
  mkdir -p "$tmp/plugins"
  # The tarball Pulumi's plugin installer fetches: pulumi-resource-NAME-vVERSION-OS-ARCH.tar.gz
  tar -C "$tmp/bin" -cf - pulumi-resource-kubernetes | gzip -1 \
    >"$tmp/plugins/pulumi-resource-kubernetes-v$K8S_PROVIDER_VERSION-linux-amd64.tar.gz"
  rm -rf "$PULUMI_DIR"
  mkdir -p "$PULUMI_DIR"
  mv "$tmp/bin" "$tmp/plugins" "$PULUMI_DIR/"
  chmod -R u+w "$tmp"; rm -rf "$tmp"
}

# The image: Debian minbase (git and certificates, as pulumi-base has) + the CLI at /pulumi/bin.
build_image() {
  local tmp sources
  tmp=$(mktemp -d)
  sources=/etc/apt/sources.list.d/debian.sources
  [ -f "$sources" ] || sources=/etc/apt/sources.list
  mmdebstrap --mode=root --variant=minbase --format=tar --include=ca-certificates,git \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    bookworm "$tmp/base.tar" "$sources" >"$tmp/log" 2>&1 || { tail -30 "$tmp/log"; die "mmdebstrap (pulumi) failed"; }
  echo "$tmp"
}

# assemble_image BASE_TMP: the OCI layout: the Debian layer, then the CLI at /pulumi/bin (workdir
# /pulumi, PATH first), as pulumi/pulumi-base lays it out.
assemble_image() {
  local t=$1
  (cd "$TB_ROOT/testbed" && go build -o "$MKIMAGE" ./mkimage)
  mkdir -p "$t/cli/pulumi/bin"
  cp "$PULUMI_DIR/bin/pulumi" "$t/cli/pulumi/bin/pulumi"
  repro_tar "$t/cli" "$t/cli.tar"
  rm -rf "$IMAGES_DIR/pulumi"
  "$MKIMAGE" layout -out "$IMAGES_DIR/pulumi" -tag pulumi -layer "$t/base.tar" -layer "$t/cli.tar" \
    -env PATH=/pulumi/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin -workdir /pulumi -cmd pulumi >/dev/null
}

PULUMI_DIR=$NIGHTLY_CACHE/pulumi-$PULUMI_VERSION
# Its own copy of mkimage: build-images.sh may be writing the shared one at the same time.
MKIMAGE=$NIGHTLY_CACHE/bin/mkimage-pulumi
mkdir -p "$IMAGES_DIR" "$NIGHTLY_CACHE/bin"

bin_key=$(key_of <(declare -f build_binaries trim_kinds) <(go version) <(echo "$PULUMI_VERSION $K8S_PROVIDER_VERSION $K8S_PROVIDER_MODULE"))
img_key=$(key_of <(declare -f build_image assemble_image) "$TB_ROOT/testbed/mkimage/main.go")-$bin_key

if stamp_ok pulumi-bin "$bin_key" && [ -x "$PULUMI_DIR/bin/pulumi" ]; then
  log "pulumi $PULUMI_VERSION + kubernetes provider $K8S_PROVIDER_VERSION: cached"
  base_tmp=
else
  # The Debian base downloads while Go compiles.
  basefile=$(mktemp)
  build_image >"$basefile" &
  base_pid=$!
  log "pulumi $PULUMI_VERSION + kubernetes provider $K8S_PROVIDER_VERSION: building (about 10 min alone, cold; more beside the other builds)"
  t0=$(date +%s)
  build_binaries
  stamp_set pulumi-bin "$bin_key"
  log "pulumi: built in $(($(date +%s) - t0)) s ($(du -sh "$PULUMI_DIR/bin" | cut -f1))"
  wait "$base_pid" || die "building the pulumi image's base failed"
  base_tmp=$(cat "$basefile")
  rm -f "$basefile"
fi

if stamp_ok img-pulumi "$img_key" && [ -d "$IMAGES_DIR/pulumi" ]; then
  log "image pulumi: cached"
else
  [ -n "$base_tmp" ] || base_tmp=$(build_image)
  assemble_image "$base_tmp"
  rm -rf "$base_tmp"
  stamp_set img-pulumi "$img_key"
  log "image pulumi: built"
fi
[ -z "${base_tmp:-}" ] || rm -rf "$base_tmp"
