#!/usr/bin/env bash
# gitea.sh start: the test bed's forge (part 4), Gitea on 127.0.0.1:$TB_GITEA_PORT with SQLite, its
# data under $NIGHTLY_STATE/gitea. Every start makes a fresh database, an admin user
# ($TB_GITEA_USER, random password) and an access token, written to $NIGHTLY_STATE/gitea-token.
# Tests make their own repositories. The pid file is registry-gitea.pid: down.sh stops it with the
# registries.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "${1:-}" = start ] || die "usage: gitea.sh start"
S=$NIGHTLY_STATE
G=$S/gitea
BIN=$NIGHTLY_CACHE/gitea/bin/gitea
[ -x "$BIN" ] || die "no Gitea binary at $BIN: run testbed/build-gitea.sh"
if curl -s -o /dev/null "http://127.0.0.1:$TB_GITEA_PORT/"; then
  die "port $TB_GITEA_PORT is taken on 127.0.0.1 (set TB_GITEA_PORT)"
fi
rm -rf "$G"
mkdir -p "$G/data" "$G/repos" "$G/log" "$G/custom"
# Gitea refuses to run as root unless told it is on purpose (the test bed runs as root).
export GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true GITEA_WORK_DIR=$G GITEA_CUSTOM=$G/custom
umask 077
cat >"$G/app.ini" <<INI
APP_NAME = nightly test bed forge
RUN_MODE = prod
WORK_PATH = $G

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $TB_GITEA_PORT
ROOT_URL = http://127.0.0.1:$TB_GITEA_PORT/
; No bindata: templates, locales and public files are read from here.
STATIC_ROOT_PATH = $NIGHTLY_CACHE/gitea/static
APP_DATA_PATH = $G/data
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = $G/data/gitea.db

[repository]
ROOT = $G/repos
DEFAULT_BRANCH = master

[security]
INSTALL_LOCK = true
INTERNAL_TOKEN = $("$BIN" generate secret INTERNAL_TOKEN)

[oauth2]
JWT_SECRET = $("$BIN" generate secret JWT_SECRET)

[service]
DISABLE_REGISTRATION = true

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[mailer]
ENABLED = false

[picture]
DISABLE_GRAVATAR = true
ENABLE_FEDERATED_AVATAR = false

[actions]
ENABLED = false

[indexer]
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[log]
MODE = console
LEVEL = warn
ROOT_PATH = $G/log
INI

gitea() { "$BIN" --config "$G/app.ini" "$@"; }
gitea migrate >"$G/log/setup.log" 2>&1 || { cat "$G/log/setup.log" >&2; die "gitea migrate failed"; }
head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$G/admin-password"
gitea admin user create --admin --username "$TB_GITEA_USER" --password "$(cat "$G/admin-password")" \
  --email "$TB_GITEA_USER@localhost" --must-change-password=false >>"$G/log/setup.log" 2>&1 ||
  { cat "$G/log/setup.log" >&2; die "creating the Gitea admin user failed"; }
# As root a warning line precedes the token on stdout.
gitea admin user generate-access-token --username "$TB_GITEA_USER" --token-name "testbed-$(date +%s)" \
  --scopes all --raw 2>>"$G/log/setup.log" | tail -n1 >"$S/gitea-token"
[ -s "$S/gitea-token" ] || { cat "$G/log/setup.log" >&2; die "making the Gitea token failed"; }
umask 022

setsid "$BIN" web --config "$G/app.ini" >"$S/gitea.log" 2>&1 </dev/null &
echo $! >"$S/registry-gitea.pid" # stopped with the registries by down.sh
for _ in $(seq 1 150); do
  if curl -sf -o /dev/null "http://127.0.0.1:$TB_GITEA_PORT/api/v1/version"; then
    log "gitea: http://127.0.0.1:$TB_GITEA_PORT (admin $TB_GITEA_USER, token in $S/gitea-token)"
    exit 0
  fi
  kill -0 "$(cat "$S/registry-gitea.pid")" 2>/dev/null || break
  sleep 0.2
done
tail -20 "$S/gitea.log" >&2
die "gitea did not start on 127.0.0.1:$TB_GITEA_PORT (port taken? set TB_GITEA_PORT)"
