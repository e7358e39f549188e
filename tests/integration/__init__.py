"""Integration tests against the real Kafka, Redis and Prometheus of `make services`."""
