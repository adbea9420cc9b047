#!/bin/sh
# kafka-run-class.sh <main class> [args]: Java with Kafka's classpath, as the release's script
# of the same name does (KAFKA_HEAP_OPTS and KAFKA_OPTS honoured). Logs go to stdout.
set -eu
main=$1
shift
# -XX:-UsePerfData: nothing written to /tmp/hsperfdata (the topics Job's root is read-only).
# Serial GC: a heap of a few hundred MB on a small node; no GC worker threads.
# shellcheck disable=SC2086  # the *_OPTS variables hold several options
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
  -XX:-UsePerfData -Djava.awt.headless=true \
  -Dlog4j2.configurationFile=/opt/kafka/etc/log4j2.properties ${KAFKA_OPTS:-} \
  -cp '/opt/kafka/libs/*' "$main" "$@"
