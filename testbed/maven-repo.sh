#!/usr/bin/env bash
# maven-repo.sh start: a real Maven repository server on 127.0.0.1:$TB_MAVEN_PORT: nginx WebDAV
# under /maven/, anonymous GET/HEAD, basic auth for PUT/DELETE/MKCOL. Data in $NIGHTLY_STATE.
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "${1:-}" = start ] || die "usage: maven-repo.sh start"
S=$NIGHTLY_STATE
mkdir -p "$S/maven-repo" "$S/nginx"/{body,proxy,fastcgi,uwsgi,scgi}
# A password with spaces, made for this run only; apr1 hashes are native to nginx.
umask 077
printf 'testbed pass %s' "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" >"$S/maven-password"
htpasswd -nbm "$TB_MAVEN_USER" "$(cat "$S/maven-password")" >"$S/maven.htpasswd"
umask 022
# nginx workers run as nobody: they own what they write.
chown -R nobody:nogroup "$S/maven-repo" "$S/nginx"
chmod 644 "$S/maven.htpasswd"
cat >"$S/nginx.conf" <<CONF
worker_processes 1;
pid $S/nginx.pid;
error_log $S/nginx-error.log warn;
events { worker_connections 64; }
http {
  access_log $S/nginx-access.log;
  client_body_temp_path $S/nginx/body;
  proxy_temp_path $S/nginx/proxy;
  fastcgi_temp_path $S/nginx/fastcgi;
  uwsgi_temp_path $S/nginx/uwsgi;
  scgi_temp_path $S/nginx/scgi;
  client_max_body_size 1g;
  server {
    listen 127.0.0.1:$TB_MAVEN_PORT;
    location /maven/ {
      alias $S/maven-repo/;
      autoindex on;
      dav_methods PUT DELETE MKCOL;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      limit_except GET HEAD {
        auth_basic "nightly test bed Maven repository";
        auth_basic_user_file $S/maven.htpasswd;
      }
    }
  }
}
CONF
setsid /usr/sbin/nginx -p "$S" -e "$S/nginx-error.log" -c "$S/nginx.conf" -g 'daemon off;' \
  >"$S/nginx.log" 2>&1 </dev/null &
echo $! >"$S/registry-maven.pid" # stopped with the registries by down.sh
for _ in $(seq 1 50); do
  if curl -s -o /dev/null "http://127.0.0.1:$TB_MAVEN_PORT/maven/"; then
    log "maven repository: http://127.0.0.1:$TB_MAVEN_PORT/maven/snapshots (user $TB_MAVEN_USER)"
    exit 0
  fi
  sleep 0.1
done
cat "$S/nginx-error.log" "$S/nginx.log" >&2 || true
die "nginx did not start on 127.0.0.1:$TB_MAVEN_PORT (port taken? set TB_MAVEN_PORT)"
