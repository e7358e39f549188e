"""Benchmarks of the worker, the replay and the codec (see benchmarks/README.md)."""
