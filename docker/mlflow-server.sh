#!/bin/sh
# Entry point of the `mlflow` service: writes the basic-auth config from the environment, then
# execs the tracking server (compose's `init: true` puts tini in front to reap and forward
# signals). Settings chosen from benchmarks/server_latency.py, see docs/team.md.
set -eu
: "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}" "${MLFLOW_ADMIN_PASSWORD:?}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?}" "${MLFLOW_BUCKET:?}"

# URL-quote the password (it may hold @ : / %) for the SQLAlchemy URLs.
PGPASS=$(python -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["POSTGRES_PASSWORD"], safe=""))')
PG="postgresql+psycopg2://${POSTGRES_USER}:${PGPASS}@${POSTGRES_HOST:-postgres}:${POSTGRES_PORT:-5432}"

AUTH_DIR=${MLFLOW_AUTH_DIR:-/tmp/mlflow-auth}
mkdir -p "$AUTH_DIR" && chmod 700 "$AUTH_DIR"
# configparser treats % as interpolation: double it. The admin password stays in the environment.
cat > "$AUTH_DIR/basic_auth.ini" <<INI
[mlflow]
default_permission = ${MLFLOW_AUTH_DEFAULT_PERMISSION:-READ}
database_uri = $(printf '%s' "$PG/${MLFLOW_AUTH_DB:-mlflow_auth}" | sed 's/%/%%/g')
admin_username = ${MLFLOW_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH="$AUTH_DIR/basic_auth.ini"
export MLFLOW_AUTH_ADMIN_PASSWORD="$MLFLOW_ADMIN_PASSWORD"
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false

exec mlflow server \
  --backend-store-uri "$PG/${POSTGRES_DB:-mlflow}" \
  --artifacts-destination "s3://${MLFLOW_BUCKET}/" \
  --serve-artifacts \
  --app-name basic-auth \
  --host "${MLFLOW_HOST:-0.0.0.0}" --port "${MLFLOW_INTERNAL_PORT:-5000}" \
  --workers 1 \
  --allowed-hosts "mlflow,mlflow:5000,localhost,localhost:*,127.0.0.1,127.0.0.1:*${MLFLOW_ALLOWED_HOSTS:+,$MLFLOW_ALLOWED_HOSTS}"
