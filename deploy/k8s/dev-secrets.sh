#!/usr/bin/env bash
# Creates, once, the Secrets a dev cluster needs, with random values that never touch a file in
# the repository: the in-cluster Postgres' password and admin URL, each service's DATABASE_URL,
# identity's signing key, and the shop's merchant key at the psp simulator (the same key in the
# psp's accounts and in payments' secret). Existing Secrets are left alone. Usage: dev-secrets.sh [namespace]
set -euo pipefail
namespace=${1:-flotilla-dev}
# >>> generated services: from services/*/src/*/service.toml by make deploy-generate, do not edit
services=(identity notifications psp payments catalog orders)
# <<< generated services
host=flotilla-postgres:5432

kubectl get namespace "$namespace" >/dev/null 2>&1 || kubectl create namespace "$namespace"
exists() { kubectl -n "$namespace" get secret "$1" >/dev/null 2>&1; }
password() { openssl rand -hex 24; }

if ! exists flotilla-postgres-admin; then
  admin=$(password)
  kubectl -n "$namespace" create secret generic flotilla-postgres-admin \
    --from-literal=postgres_password="$admin" \
    --from-literal=admin_database_url="postgresql+asyncpg://postgres:$admin@$host/flotilla"
fi
for service in "${services[@]}"; do
  if ! exists "flotilla-$service-db"; then
    # bootstrap creates the role with this password; the service connects with it.
    kubectl -n "$namespace" create secret generic "flotilla-$service-db" \
      --from-literal=database_url="postgresql+asyncpg://$service:$(password)@$host/flotilla"
  fi
done
if ! exists flotilla-jwt-keys; then
  keys=$(mktemp -d)
  trap 'rm -rf "$keys"' EXIT
  openssl genpkey -algorithm ed25519 -out "$keys/key-$(date -u +%Y%m%d).pem"
  kubectl -n "$namespace" create secret generic flotilla-jwt-keys --from-file="$keys"
fi
if ! exists flotilla-psp-api-keys || ! exists flotilla-payments-psp; then
  key="sk_test_$(openssl rand -hex 24)"
  kubectl -n "$namespace" delete secret flotilla-psp-api-keys flotilla-payments-psp --ignore-not-found
  kubectl -n "$namespace" create secret generic flotilla-psp-api-keys \
    --from-literal=api_keys="{\"acct_flotilla\": \"$key\"}"
  kubectl -n "$namespace" create secret generic flotilla-payments-psp --from-literal=api_key="$key"
fi
echo "secrets ready in namespace $namespace"
