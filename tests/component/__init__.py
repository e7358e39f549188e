"""The pipeline in process, on in-memory stores and sinks (no services)."""
