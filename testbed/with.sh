#!/usr/bin/env bash
# with.sh CMD...: runs CMD with the test bed up and its environment loaded. Starts the test bed when
# it is not up, and then stops it afterwards and checks that nothing of it is left on the host;
# a test bed that was already up stays up (KEEP_TESTBED=1 keeps one we started, for iterating).
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=testbed/hygiene.sh
source "$TB_ROOT/testbed/hygiene.sh"

# Another checkout's bed is up: refuse before anything (no trap yet: nothing to tear down).
hy_guard || exit 3
started=0
finish() {
  local rc=$?
  if [ $started = 1 ] && [ "${KEEP_TESTBED:-0}" != 1 ]; then
    if ! { bash "$TB_ROOT/testbed/down.sh" && bash "$TB_ROOT/testbed/check-clean.sh"; }; then
      [ "$rc" != 0 ] || rc=1
    fi
  fi
  exit "$rc"
}
# The trap is set before starting: a start that fails half-way is cleaned up too.
trap finish EXIT
if ! hy_bed_up; then
  started=1
  # up.sh refusing (3: another checkout claimed the host meanwhile) started nothing to stop.
  bash "$TB_ROOT/testbed/up.sh" || { rc=$?; [ "$rc" != 3 ] || started=0; exit "$rc"; }
fi
# shellcheck disable=SC1091
source "$NIGHTLY_STATE/env"
"$@"
