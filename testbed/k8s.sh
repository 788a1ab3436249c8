#!/usr/bin/env bash
# k8s.sh start: a real Kubernetes control plane on loopback, TLS and RBAC on: etcd (Debian),
# kube-apiserver, kube-controller-manager and kube-scheduler v1.33.3, and kwok with two fake nodes,
# so Deployments really roll (new ReplicaSet, old one scaled to 0) and pods become Ready.
# State (PKI, etcd data, logs, kubeconfig) in $NIGHTLY_STATE/k8s; pids in $NIGHTLY_STATE/servers.
# Writes $NIGHTLY_STATE/k8s/admin.kubeconfig (a token in system:masters; server https://127.0.0.1:PORT).
# The serving certificate carries 127.0.0.1, localhost and kube-apiserver: the name the module binds
# a cluster service under inside its containers (ci/plan.ClusterAlias).
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "${1:-}" = start ] || die "usage: k8s.sh start"
K8S_BIN=$NIGHTLY_CACHE/k8s-1.33.3/bin
[ -x "$K8S_BIN/kube-apiserver" ] || die "kubernetes not built: run testbed/build-k8s.sh"
D=$NIGHTLY_STATE/k8s
P=$NIGHTLY_STATE/servers
mkdir -p "$D/pki" "$P"
port=$TB_K8S_PORT etcd_port=$TB_ETCD_PORT

# PKI: a CA, the API server's serving certificate, the service-account signing key; a token for
# the admin (system:masters), made for this run only.
umask 077
(
  cd "$D/pki" || exit 1
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=nightly-testbed-ca -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kube-apiserver,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >ext.cnf
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile ext.cnf -out apiserver.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)
token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
printf '%s,nightly-admin,nightly-admin,system:masters\n' "$token" >"$D/pki/tokens.csv"
cat >"$D/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: nightly-testbed
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(base64 -w0 <"$D/pki/ca.crt")
users:
- name: nightly-admin
  user:
    token: $token
contexts:
- name: nightly-testbed
  context: {cluster: nightly-testbed, user: nightly-admin}
current-context: nightly-testbed
KC
umask 022

start() { # start NAME CMD...: a server in the background, its pid in $P/NAME.pid
  local name=$1; shift
  setsid "$@" >"$D/$name.log" 2>&1 </dev/null &
  echo $! >"$P/$name.pid"
}
alive() { kill -0 "$(cat "$P/$1.pid")" 2>/dev/null || { tail -20 "$D/$1.log" >&2; die "$1 exited (log: $D/$1.log)"; }; }

start etcd /usr/bin/etcd --name nightly --data-dir "$D/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$TB_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$TB_ETCD_PEER_PORT" \
  --initial-cluster "nightly=http://127.0.0.1:$TB_ETCD_PEER_PORT" --listen-metrics-urls ''
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$etcd_port/health" >/dev/null && break
  alive etcd; sleep 0.1
done

start kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --secure-port "$port" --advertise-address 127.0.0.1 \
  --tls-cert-file "$D/pki/apiserver.crt" --tls-private-key-file "$D/pki/apiserver.key" \
  --client-ca-file "$D/pki/ca.crt" --token-auth-file "$D/pki/tokens.csv" \
  --authorization-mode Node,RBAC --anonymous-auth=false \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$D/pki/sa.pub" \
  --service-account-signing-key-file "$D/pki/sa.key" --service-cluster-ip-range 10.96.0.0/16 \
  --endpoint-reconciler-type none --profiling=false --enable-priority-and-fairness=false
ok=0
for _ in $(seq 1 300); do
  if curl -fs --cacert "$D/pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$port/readyz" >/dev/null; then ok=1; break; fi
  alive kube-apiserver; sleep 0.2
done
[ $ok = 1 ] || die "kube-apiserver not ready on 127.0.0.1:$port (log: $D/kube-apiserver.log)"

kc=$D/admin.kubeconfig
# The nodes are kwok's and never really fail: a heartbeat late under load (2 cores, tests in
# parallel) must not mark them NotReady, which turns every pod unready until the next one.
start kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig "$kc" --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port "$TB_K8S_CM_PORT" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
  --service-account-private-key-file "$D/pki/sa.key" --root-ca-file "$D/pki/ca.crt" \
  --use-service-account-credentials=false --controllers '*,-csrsigning,-nodeipam' \
  --node-monitor-grace-period=1h
start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$kc" --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port "$TB_K8S_SCHED_PORT" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc"
start kwok "$K8S_BIN/kwok" --kubeconfig "$kc" --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --cidr 10.0.0.1/24 --node-ip 10.0.0.1

# Two fake nodes: kwok marks them Ready and runs (pretends to) whatever the scheduler binds there.
for i in 0 1; do
  curl -fs --cacert "$D/pki/ca.crt" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -X POST "https://127.0.0.1:$port/api/v1/nodes" -d @- >/dev/null <<NODE || die "creating node kwok-node-$i"
{"apiVersion":"v1","kind":"Node","metadata":{"name":"kwok-node-$i","annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"kubernetes.io/hostname":"kwok-node-$i","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok"}},
 "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"110"},"capacity":{"cpu":"32","memory":"256Gi","pods":"110"}}}
NODE
done
for _ in $(seq 1 150); do
  ready=$(curl -fs --cacert "$D/pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$port/api/v1/nodes" |
    grep -c '"type": "Ready"' || true)
  [ "$ready" -ge 2 ] && break
  for s in kube-controller-manager kube-scheduler kwok; do alive $s; done
  sleep 0.2
done
[ "${ready:-0}" -ge 2 ] || die "kwok nodes not Ready (log: $D/kwok.log)"
log "kubernetes: https://127.0.0.1:$port (kubeconfig $kc), 2 kwok nodes"
