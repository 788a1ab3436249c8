#!/usr/bin/env bash
# Installs the Debian packages the test bed uses (skipped when all are present).
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKGS=(runc containernetworking-plugins dnsmasq-base iptables iproute2 procps openssl ca-certificates
  util-linux git curl busybox-static docker-registry apache2-utils mmdebstrap skopeo
  nginx shellcheck
  # The deploy stage's cluster store and Pulumi state backend (testbed/k8s.sh, pulumi-state.sh).
  etcd-server postgresql)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
log "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
