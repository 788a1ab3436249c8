#!/usr/bin/env bash
# demo.sh: the nightly on the fixture product, with the module's embedded defaults.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
run() { echo "+ dagger call $*" >&2; dagger call --progress=plain "$@"; }
run version
run toolchain
