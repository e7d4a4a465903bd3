#!/bin/sh
# First-time step of the compose deployment: one random bus password per component and one
# PostgreSQL password per database role into deploy/.env (compose reads it for the nats and
# postgres containers and hands each service its own). Keeps every value already there and adds
# only the missing ones (an older .env gains the PostgreSQL passwords); 0600.
#
# A password starts with a letter: nats-server reads $BUS_PASSWORD_* in nats.conf as a config
# value, and an all-hex one such as 1e730a… would parse as a number and the server would refuse
# the file. A letter and hex digits parse as a string, and are safe in a postgres:// URL.
set -eu
env="$(dirname "$0")/.env"
umask 077
touch "$env"
added=""
for key in BUS_PASSWORD_CAPSTORE BUS_PASSWORD_AUDIT BUS_PASSWORD_AIRLOCK BUS_PASSWORD_INDEXER \
  BUS_PASSWORD_GATEWAY BUS_PASSWORD_ADMIN PG_PASSWORD_ADMIN PG_PASSWORD_AUDIT PG_PASSWORD_INDEXER \
  PG_PASSWORD_GATEWAY; do
  if ! grep -q "^$key=" "$env"; then
    printf '%s=s%s\n' "$key" "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >>"$env"
    added="$added $key"
  fi
done
chmod 600 "$env"
echo "${added:+added$added to }$env" >&2
