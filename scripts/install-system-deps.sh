#!/usr/bin/env bash
# Debian packages the end-to-end tests use: real Prometheus, promtool, Alertmanager, nginx, Knot,
# Chromium (the reference browser for the mixed-content test), and blackbox_exporter (bench/).
# Installs only as root and only what is missing; without root the e2e tests that need them skip.
set -euo pipefail
packages=(prometheus prometheus-alertmanager knot knot-dnsutils nginx chromium fonts-wqy-microhei
          prometheus-blackbox-exporter)
commands=(/usr/bin/prometheus /usr/bin/prometheus-alertmanager /usr/sbin/knotd /usr/bin/kdig /usr/sbin/nginx /usr/bin/chromium /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
          /usr/bin/prometheus-blackbox-exporter)
missing=()
for i in "${!packages[@]}"; do
  [ -e "${commands[$i]}" ] || missing+=("${packages[$i]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: not root or not Debian; e2e tests needing ${missing[*]} will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps it small; the packages' services are never started by the tests.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts packaged daemons on install where an init system runs; the tests start their own.
for svc in prometheus prometheus-alertmanager knot nginx prometheus-blackbox-exporter; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || true
done
