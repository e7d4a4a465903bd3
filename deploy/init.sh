#!/bin/sh
# First-time step of the compose deployment: one random bus password per component into
# deploy/.env (compose reads it for the nats container and the per-service secrets). Never
# overwrites an existing file; 0600.
set -eu
env="$(dirname "$0")/.env"
if [ -e "$env" ]; then
  echo "$env exists; keeping it" >&2
  exit 0
fi
umask 077
for c in CAPSTORE AUDIT AIRLOCK INDEXER GATEWAY ADMIN; do
  printf 'BUS_PASSWORD_%s=%s\n' "$c" "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
done >"$env"
echo "wrote $env" >&2
