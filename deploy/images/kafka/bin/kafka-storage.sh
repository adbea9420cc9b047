#!/bin/sh
# kafka-storage.sh, as in Kafka's release.
exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
