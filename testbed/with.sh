#!/usr/bin/env bash
# with.sh CMD...: runs CMD with the test bed up and its environment loaded. Starts the test bed when
# it is not up, and then stops it afterwards and checks that nothing of it is left on the host;
# a test bed that was already up stays up (KEEP_TESTBED=1 keeps one we started, for iterating).
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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
if ! { [ -f "$NIGHTLY_STATE/engine.pid" ] && kill -0 "$(cat "$NIGHTLY_STATE/engine.pid")" 2>/dev/null; }; then
  started=1
  bash "$TB_ROOT/testbed/up.sh"
fi
# shellcheck disable=SC1091
source "$NIGHTLY_STATE/env"
"$@"
