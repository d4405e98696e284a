#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# One server, three databases: MLflow tracking (POSTGRES_DB), MLflow auth users, Optuna studies.
# Optuna needs its own database: its `alembic_version` table would collide with MLflow's.
set -eu
for db in "$MLFLOW_AUTH_DB" "$OPTUNA_DB"; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "CREATE DATABASE \"$db\""
done
