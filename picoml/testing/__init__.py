"""Helpers for tests and benchmarks: peers (tflite-micro) and real-data locations."""
