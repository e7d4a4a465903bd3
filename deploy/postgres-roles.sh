#!/bin/sh
# PostgreSQL's first start (docker-entrypoint-initdb.d): one login role and one database per
# service that stores in PostgreSQL, each database owned by its role and closed to every other
# (O-deploy-2): audit owns the audit tables, the indexer its index tables, the gateway only the
# OAuth store. Password authentication (scram-sha-256) on the compose network; no trust.
# An existing postgres volume, initialised before this script, runs it once by hand:
#   docker compose -f deploy/compose.yaml exec postgres sh /docker-entrypoint-initdb.d/roles.sh
set -eu
for role in audit indexer gateway; do
  case "$role" in
  audit) pw="$PG_PASSWORD_AUDIT" ;;
  indexer) pw="$PG_PASSWORD_INDEXER" ;;
  gateway) pw="$PG_PASSWORD_GATEWAY" ;;
  esac
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v role="$role" -v pw="$pw" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'pw';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "REVOKE ALL ON DATABASE \"$POSTGRES_DB\" FROM PUBLIC"
