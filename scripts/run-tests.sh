#!/usr/bin/env bash
# Run the whole suite on SQLite, then again on a fresh PostgreSQL database.
# Without PostgreSQL the second run is skipped (and reported); with CI=true that is a failure.
set -u
PY=${PY:-.venv/bin/python}
echo "== 测试：SQLite =="
VG_TEST_DB=sqlite "$PY" -m pytest "$@" || exit 1

if "$PY" - <<'PYEOF'
import os, sys
import psycopg
try:
    psycopg.connect(os.environ.get("VG_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"), connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL unreachable: {exc}", file=sys.stderr)
    sys.exit(1)
PYEOF
then
  echo "== 测试：PostgreSQL =="
  VG_TEST_DB=postgresql "$PY" -m pytest "$@" || exit 1
else
  if [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL 不可用：CI 中这是失败。" >&2
    exit 1
  fi
  echo "PostgreSQL skipped: no server answered at 127.0.0.1:5432 (tests passed on SQLite only)."
fi
