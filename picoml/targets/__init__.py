"""Targets build a generated C project and run it: the host (ctypes) and Cortex-M (emulator)."""
