#!/usr/bin/env bash
# Start the reference brand system (seeded) and the brand-sync app with its minute job.
# Ctrl-C stops both. Needs `python` and `loomwork` on PATH (the project's virtualenv).
# Both keep their data in .loomwork/, so a second run goes on where the first stopped
# (the system is seeded only while empty); delete .loomwork/ to start over.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${BRAND_SYSTEM_PORT:-9100}"
export BRAND_SYSTEM_URL="http://127.0.0.1:${port}"
export BRAND_SYSTEM_API_KEY="${BRAND_SYSTEM_API_KEY:-demo-$(python -c 'import secrets; print(secrets.token_hex(8))')}"
export LOOMWORK_ADMIN_TOKEN="${LOOMWORK_ADMIN_TOKEN:-demo-admin-token}"

mkdir -p .loomwork
python -m reference_brand_system --port "${port}" --api-key "${BRAND_SYSTEM_API_KEY}" \
    --db .loomwork/brand-system.sqlite --seed "${BRAND_SYSTEM_SEED:-300}" \
    --log-level warning &
system_pid=$!
trap 'kill "${system_pid}" 2>/dev/null || true' EXIT

echo "admin API: curl -H 'Authorization: Bearer ${LOOMWORK_ADMIN_TOKEN}' http://127.0.0.1:9000/admin/brands"
loomwork start
