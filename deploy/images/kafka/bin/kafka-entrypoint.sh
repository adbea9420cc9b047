#!/bin/sh
# Run one KRaft node from the environment, as the apache/kafka image does: every KAFKA_*
# variable (except the JVM's KAFKA_HEAP_OPTS and KAFKA_OPTS) becomes a server.properties key --
# prefix dropped, lower-cased, "_" -> ".", "__" -> "_", "___" -> "-" (KAFKA_NODE_ID -> node.id).
# On first start (no meta.properties in the log directory) the storage is formatted with
# CLUSTER_ID: against the static voters in controller.quorum.voters when set, else standalone.
set -eu
: "${CLUSTER_ID:?CLUSTER_ID must be set (16 bytes, base64url without padding)}"
config=/opt/kafka/config/server.properties

env | sort | while IFS='=' read -r name value; do
  case $name in
    KAFKA_HEAP_OPTS | KAFKA_OPTS) ;;
    KAFKA_*)
      key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' |
        sed -e 's/___/-/g' -e 's/__/\x01/g' -e 's/_/./g' -e 's/\x01/_/g')
      printf '%s=%s\n' "$key" "$value"
      ;;
  esac
done >"$config.tmp"
mv "$config.tmp" "$config"

log_dirs=$(sed -n 's/^log\.dirs=//p' "$config")
first_dir=${log_dirs%%,*}
if [ ! -f "${first_dir:?KAFKA_LOG_DIRS must be set}/meta.properties" ]; then
  if grep -q '^controller\.quorum\.voters=' "$config"; then
    kafka-storage.sh format -t "$CLUSTER_ID" -c "$config"
  else
    kafka-storage.sh format --standalone -t "$CLUSTER_ID" -c "$config"
  fi
fi
exec kafka-run-class.sh kafka.Kafka "$config" "$@"
