#!/bin/sh
# kafka-topics.sh, as in Kafka's release (the chart's topics Job calls it by this path).
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.TopicCommand "$@"
