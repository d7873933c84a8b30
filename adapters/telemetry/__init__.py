"""OpenTelemetry: metrics exposed to Prometheus."""
