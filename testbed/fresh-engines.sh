#!/usr/bin/env bash
# fresh-engines.sh: the same commit gives the same image digests on two engines that start from
# nothing: an empty engine state each (no layer, no image, no Maven cache volume, no compiled module).
# Starts the test bed twice, each time on a new empty engine root, runs `publish --dry-run` of the
# fixture product for one commit, and compares the digests each would push. Only one engine runs on a
# host, so the two run one after the other; no test bed may be up. Exits 1 when the digests differ.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=testbed/hygiene.sh
source "$TB_ROOT/testbed/hygiene.sh"

hy_guard || exit 3
if hy_bed_up; then
  die "a test bed is up; stop it first (make testbed-down): this script starts engines of its own"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/nightly-fresh.XXXXXX")
trap 'rm -rf "$work"' EXIT
commit=${FRESH_COMMIT:-27da477287db9c1927da477287db9c1927da4772}
for i in 1 2; do
  mkdir -p "$work/engine-$i" "$work/src-$i"
  cp -r "$TB_ROOT/fixtures/product/." "$work/src-$i"
  log "fresh engine $i: root $work/engine-$i (empty)"
  start=$(date +%s)
  # shellcheck disable=SC2016 # expanded by the inner shell, once the bed's environment is loaded
  NIGHTLY_ENGINE_ROOT=$work/engine-$i SRC=$work/src-$i COMMIT=$commit \
    bash "$TB_ROOT/testbed/with.sh" bash -c '
      set -euo pipefail
      FRESH_PW=$(tr -d "\n" <"$NIGHTLY_TESTBED_HUB_PASSWORD_FILE") && export FRESH_PW
      cd "$TB_ROOT"
      "$_EXPERIMENTAL_DAGGER_CLI_BIN" call --progress=plain -m . --source="$SRC" --linter=buildkit \
        publish --commit="$COMMIT" --created=2026-11-29T08:00:00Z \
        --registry="$NIGHTLY_TESTBED_HUB/fresh" --username=env:NIGHTLY_TESTBED_HUB_USER \
        --password=env:FRESH_PW --registry-service="tcp://localhost:${NIGHTLY_TESTBED_HUB##*:}" --dry-run' \
    >"$work/out-$i" 2>"$work/err-$i" || { tail -40 "$work/err-$i" >&2; die "engine $i: publish --dry-run failed"; }
  grep -Eo 'would push  3\.0\.0-nightly-[0-9a-f]+  sha256:[0-9a-f]{64}' "$work/out-$i" | sort >"$work/digests-$i" || true
  [ "$(wc -l <"$work/digests-$i")" = 2 ] || { cat "$work/out-$i" >&2; die "engine $i printed no two digests"; }
  log "fresh engine $i: $(($(date +%s) - start)) s"
  sed 's/^/  /' "$work/digests-$i" >&2
  rm -rf "$work/engine-$i" || true
done
if ! cmp -s "$work/digests-1" "$work/digests-2"; then
  diff "$work/digests-1" "$work/digests-2" >&2 || true
  die "two fresh engines built different digests for commit $commit"
fi
log "same digests on two fresh engines for commit $commit:"
cat "$work/digests-1"
