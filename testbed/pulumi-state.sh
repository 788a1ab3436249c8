#!/usr/bin/env bash
# pulumi-state.sh start: the deploy stage's other servers, on loopback:
# - PostgreSQL 15 (Debian), the Pulumi state backend (a DIY backend, postgres://): a real database
#   on disk, the kind a team points Pulumi at, independent of the engine and its cache volumes.
#   Role and database "pulumi", password made for this run (with spaces), never in the URL: clients
#   pass it as PGPASSWORD, in the env file $NIGHTLY_STATE/pulumi/backend.env.
# - nginx serving the Kubernetes provider's plugin tarball, as Pulumi's plugin download would.
# Also writes the stack passphrase for the tests ($NIGHTLY_STATE/pulumi/passphrase, with a space and
# a trailing newline). Pids in $NIGHTLY_STATE/servers.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "${1:-}" = start ] || die "usage: pulumi-state.sh start"
D=$NIGHTLY_STATE/pulumi
P=$NIGHTLY_STATE/servers
PG=/usr/lib/postgresql/15/bin
PLUGINS=$NIGHTLY_CACHE/pulumi-3.274.1/plugins
[ -x "$PG/postgres" ] || die "PostgreSQL 15 is not installed (install-deps.sh)"
[ -d "$PLUGINS" ] || die "the Kubernetes provider is not built: run testbed/build-pulumi.sh"
mkdir -p "$D/pg" "$P"
chown postgres: "$D/pg"

umask 077
printf 'pulumi pass %s' "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" >"$D/pg-password"
printf 'PGPASSWORD=%s\n' "$(cat "$D/pg-password")" >"$D/backend.env"
printf 'stack pass %s\n' "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" >"$D/passphrase"
umask 022

runuser -u postgres -- "$PG/initdb" -D "$D/pg/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
  >"$D/initdb.log" 2>&1 || { tail -20 "$D/initdb.log"; die "initdb failed"; }
runuser -u postgres -- "$PG/pg_ctl" -D "$D/pg/data" -l "$D/pg/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $TB_PG_PORT -k $D/pg" start >/dev/null ||
  { tail -20 "$D/pg/server.log"; die "PostgreSQL did not start on 127.0.0.1:$TB_PG_PORT"; }
head -1 "$D/pg/data/postmaster.pid" >"$P/postgres.pid"
# The password reaches psql on stdin, never on a command line.
{
  printf "SET password_encryption = 'scram-sha-256';\n"
  printf "CREATE ROLE pulumi LOGIN PASSWORD '%s';\n" "$(sed "s/'/''/g" "$D/pg-password")"
  printf "CREATE DATABASE pulumi OWNER pulumi;\n"
} | runuser -u postgres -- psql -q -h "$D/pg" -p "$TB_PG_PORT" -v ON_ERROR_STOP=1 >/dev/null ||
  die "creating the pulumi role and database"
log "pulumi state: postgres://pulumi@127.0.0.1:$TB_PG_PORT/pulumi?sslmode=disable (PGPASSWORD in $D/backend.env)"

# nginx's workers run as nobody, who cannot enter root's cache: serve a link in our state instead.
mkdir -p "$D/nginx" "$D/plugins"
for f in "$PLUGINS"/*.tar.gz; do ln -f "$f" "$D/plugins/" 2>/dev/null || cp "$f" "$D/plugins/"; done
chmod 755 "$D/plugins"; chmod 644 "$D/plugins"/*
cat >"$D/nginx.conf" <<CONF
worker_processes 1;
pid $D/nginx.pid;
error_log $D/nginx-error.log warn;
events { worker_connections 64; }
http {
  access_log $D/nginx-access.log;
  client_body_temp_path $D/nginx;
  proxy_temp_path $D/nginx;
  fastcgi_temp_path $D/nginx;
  uwsgi_temp_path $D/nginx;
  scgi_temp_path $D/nginx;
  server {
    listen 127.0.0.1:$TB_PLUGINS_PORT;
    location /plugins/ { alias $D/plugins/; autoindex on; }
  }
}
CONF
setsid /usr/sbin/nginx -p "$D" -e "$D/nginx-error.log" -c "$D/nginx.conf" -g 'daemon off;' >"$D/nginx.log" 2>&1 </dev/null &
echo $! >"$P/plugins.pid"
for _ in $(seq 1 50); do
  if curl -fs -o /dev/null "http://127.0.0.1:$TB_PLUGINS_PORT/plugins/"; then
    log "pulumi plugins: http://127.0.0.1:$TB_PLUGINS_PORT/plugins/"
    exit 0
  fi
  sleep 0.1
done
cat "$D/nginx-error.log" >&2 || true
die "nginx (plugins) did not start on 127.0.0.1:$TB_PLUGINS_PORT"
