#!/usr/bin/env bash
# Starts the Redis and PostgreSQL the shared-state guard test uses (as root, on loopback):
# Redis on 6379 without persistence, the Debian PostgreSQL cluster with a role and a
# database "aegis" (password "aegis"). Safe to run again.
set -euo pipefail
redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save "" --appendonly no
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
pg_lsclusters -h | grep -q "^$version main .* online" || pg_ctlcluster "$version" main start
for _ in $(seq 1 30); do su postgres -c "pg_isready -q" && break; sleep 0.5; done
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'aegis'\"" | grep -q 1 || su postgres -c "psql -qc \"CREATE ROLE aegis LOGIN SUPERUSER PASSWORD 'aegis'\""
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'aegis'\"" | grep -q 1 || su postgres -c "createdb -O aegis aegis"
