#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (it starts its own Mosquitto, Redis and
# InfluxDB, drives Chromium, checks alert rules with promtool, renders the Helm chart with Go,
# opens the Excel exports in LibreOffice). Installs only what is missing; runs apt-get update first.
# Needs root (or sudo). Used by `npm run test:machine` and by .ci/run.
set -euo pipefail
missing_kubectl=0

need=()
command -v mosquitto >/dev/null 2>&1 || need+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || need+=(mosquitto)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
# The status page is tested in Debian's Chromium driven by playwright-core (no browser download).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# promtool checks and unit-tests the Prometheus alert rules of deploy/grafana.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# The Excel sink's interop test opens the produced files with LibreOffice headless.
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc-nogui)
# ... and with openpyxl (pandas' reader), Debian's python3-openpyxl, run by /usr/bin/python3.
/usr/bin/python3 -c 'import openpyxl' >/dev/null 2>&1 || need+=(python3-openpyxl)
# test/deploy.test.ts renders the Helm chart with Go's text/template and Sprig, Helm's engine
# (Debian has no helm).
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d /usr/share/gocode/src/github.com/Masterminds/sprig ] || need+=(golang-github-masterminds-sprig-dev)
[ -d /usr/share/gocode/src/gopkg.in/yaml.v3 ] || need+=(golang-gopkg-yaml.v3-dev)

# test/deploy.test.ts renders the kustomize overlays with `kubectl kustomize` (kustomize v5, in
# kubectl 1.27 and later); Debian's kubernetes-client is too old for that.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup-test-machine: kubectl (1.27 or later) is missing: install it from https://kubernetes.io/docs/tasks/tools/ (test/deploy.test.ts needs kubectl kustomize)" >&2
  missing_kubectl=1
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "setup-test-machine: every package the tests need is installed"
  exit "${missing_kubectl:-0}"
fi
# Duplicates (mosquitto twice) are harmless to apt-get.
echo "setup-test-machine: installing ${need[*]} (apt-get; a few minutes on a fresh machine)"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
exit "${missing_kubectl:-0}"
