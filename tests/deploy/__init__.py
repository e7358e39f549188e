"""Tests of the deployment files (docker-compose.yml, Prometheus configs)."""
