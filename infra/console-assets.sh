#!/usr/bin/env bash
# Build the console's browser assets: install the charting library from the npm
# registry (versions pinned by infra/console/package-lock.json) and copy its
# browser bundle into the package's static dir, so the console needs no CDN.
# The copy is a build output (git-ignored); `make venv`, `make demo` and
# `make test` run this script whenever the lock file is newer than the copy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
vendor="$repo/somagent/webconsole/static/vendor"
command -v npm >/dev/null || { echo "error: npm not found (install Node.js 18+)"; exit 1; }
npm ci --prefix "$here/console" --no-audit --no-fund --loglevel=error
mkdir -p "$vendor"
cp "$here/console/node_modules/chart.js/dist/chart.umd.min.js" "$vendor/chart.umd.min.js"
cp "$here/console/node_modules/chart.js/LICENSE.md" "$vendor/chart.js.LICENSE.md"
echo "console assets: chart.js $(node -p "require('$here/console/node_modules/chart.js/package.json').version") -> $vendor"
