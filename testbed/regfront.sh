#!/usr/bin/env bash
# regfront.sh build|start: builds testbed/regfront (cached in $NIGHTLY_CACHE, keyed by its sources);
# `start` also starts, on loopback, after the basic-auth "hub" registry is up:
#   - a registry that authenticates like Docker Hub on 127.0.0.1:$TB_DOCKERHUB_PORT: a real
#     docker-registry (distribution 2.8) with `auth: token:` on a unix socket in $NIGHTLY_STATE,
#     behind `regfront dockerhub`, which serves /token (JWTs signed with a key made per run) and
#     proxies /v2/ to it. One user ($TB_DOCKERHUB_USER), a password with spaces made per run.
#   - `regfront faulty`, the fault-injecting proxy in front of the hub on 127.0.0.1:$TB_FAULTY_PORT,
#     its control API on 127.0.0.1:$TB_FAULTY_CONTROL_PORT.
# Pids go to $NIGHTLY_STATE/registry-*.pid, which down.sh stops. See testbed/regfront/main.go.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in build | start) ;; *) die "usage: regfront.sh build|start" ;; esac
S=$NIGHTLY_STATE
D=$S/dockerhub
BIN=$NIGHTLY_CACHE/bin/regfront

src=$TB_ROOT/testbed
key=$(key_of "$src"/regfront/main.go "$src"/regfront/dockerhub.go "$src"/regfront/faulty.go "$src/go.sum")
if ! stamp_ok regfront "$key" || [ ! -x "$BIN" ]; then
  log "regfront: building"
  mkdir -p "$NIGHTLY_CACHE/bin"
  (cd "$src" && go build -trimpath -ldflags='-s -w' -o "$BIN.tmp" ./regfront) && mv "$BIN.tmp" "$BIN"
  stamp_set regfront "$key"
  log "regfront: built"
fi
[ "$1" = start ] || exit 0
mkdir -p "$D/data"

# wait_for URL CODE PIDFILE NAME: until URL answers CODE, or the process died.
wait_for() {
  local code
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
    [ "$code" = "$2" ] && return 0
    kill -0 "$(cat "$3")" 2>/dev/null || break
    sleep 0.05
  done
  tail -5 "$S/$4.log" "$S/$4.out" >&2 || true
  die "$4 did not answer $2 on $1 (got ${code:-nothing}; port taken? see lib.sh for TB_*_PORT)"
}

# A server already there (an earlier run, another program) would answer in place of ours.
for port in "$TB_DOCKERHUB_PORT" "$TB_FAULTY_PORT" "$TB_FAULTY_CONTROL_PORT"; do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    die "port $port is taken (set TB_DOCKERHUB_PORT, TB_FAULTY_PORT, TB_FAULTY_CONTROL_PORT)"
  fi
done

# The token signing key and its certificate (distribution's rootcertbundle), made per run.
umask 077
printf 'hub pass %s' "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" >"$S/dockerhub-password"
openssl ecparam -name prime256v1 -genkey -noout -out "$D/token.key" 2>/dev/null
openssl req -x509 -new -key "$D/token.key" -subj /CN=nightly-testbed-dockerhub-token -days 30 \
  -out "$D/token.crt" 2>/dev/null
umask 022
service=nightly-testbed-dockerhub issuer=nightly-testbed-dockerhub-auth
# The realm is a placeholder: regfront rewrites it to http://<Host of the request>/token.
cat >"$D/registry.yml" <<YML
version: 0.1
log: {level: warn, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $D/data}}
http: {net: unix, addr: $D/registry.sock, secret: testbed-dockerhub}
auth:
  token: {realm: "http://regfront.invalid/token", service: $service, issuer: $issuer, rootcertbundle: $D/token.crt}
YML
rm -f "$D/registry.sock"
setsid /usr/bin/docker-registry serve "$D/registry.yml" >"$S/registry-dockerhub.log" 2>&1 </dev/null &
echo $! >"$S/registry-dockerhub.pid"
setsid "$BIN" dockerhub -listen "127.0.0.1:$TB_DOCKERHUB_PORT" -backend "$D/registry.sock" \
  -storage "$D/data" -key "$D/token.key" -cert "$D/token.crt" -service "$service" -issuer "$issuer" \
  -user "$TB_DOCKERHUB_USER" -password-file "$S/dockerhub-password" -log "$S/regfront-dockerhub.log" \
  >"$S/regfront-dockerhub.out" 2>&1 </dev/null &
echo $! >"$S/registry-dockerhub-front.pid"
# 401 comes from distribution itself, through the front: both are up.
wait_for "http://127.0.0.1:$TB_DOCKERHUB_PORT/v2/" 401 "$S/registry-dockerhub-front.pid" regfront-dockerhub
log "registry dockerhub (token auth like Docker Hub): http://127.0.0.1:$TB_DOCKERHUB_PORT (user $TB_DOCKERHUB_USER)"

setsid "$BIN" faulty -listen "127.0.0.1:$TB_FAULTY_PORT" -control "127.0.0.1:$TB_FAULTY_CONTROL_PORT" \
  -upstream "http://127.0.0.1:$TB_HUB_PORT" -log "$S/regfront-faulty.log" \
  >"$S/regfront-faulty.out" 2>&1 </dev/null &
echo $! >"$S/registry-faulty.pid"
wait_for "http://127.0.0.1:$TB_FAULTY_CONTROL_PORT/rules" 200 "$S/registry-faulty.pid" regfront-faulty
log "fault proxy: http://127.0.0.1:$TB_FAULTY_PORT → hub, control http://127.0.0.1:$TB_FAULTY_CONTROL_PORT"
