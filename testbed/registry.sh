#!/usr/bin/env bash
# registry.sh start NAME PORT DATA [HTPASSWD]: a Debian docker-registry (distribution 2.8) on
# 127.0.0.1:PORT, storing in DATA, with basic auth when HTPASSWD is given. Pid in $NIGHTLY_STATE.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "${1:-}" = start ] || die "usage: registry.sh start NAME PORT DATA [HTPASSWD]"
name=$2 port=$3 data=$4 htpasswd=${5:-}
mkdir -p "$data" "$NIGHTLY_STATE"
cfg=$NIGHTLY_STATE/registry-$name.yml
{
  echo "version: 0.1"
  echo "log: {level: warn, accesslog: {disabled: false}}"
  echo "storage: {filesystem: {rootdirectory: $data}, delete: {enabled: true}}"
  echo "http: {addr: 127.0.0.1:$port, secret: testbed-$name}"
  if [ -n "$htpasswd" ]; then
    echo "auth: {htpasswd: {realm: nightly-testbed-$name, path: $htpasswd}}"
  fi
} >"$cfg"
setsid /usr/bin/docker-registry serve "$cfg" >"$NIGHTLY_STATE/registry-$name.log" 2>&1 </dev/null &
echo $! >"$NIGHTLY_STATE/registry-$name.pid"
for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then
    log "registry $name: http://127.0.0.1:$port"
    exit 0
  fi
  kill -0 "$(cat "$NIGHTLY_STATE/registry-$name.pid")" 2>/dev/null || break
  sleep 0.1
done
tail -5 "$NIGHTLY_STATE/registry-$name.log" >&2
die "registry $name did not start on 127.0.0.1:$port (port taken? set TB_${name^^}_PORT)"
