"""Frontends: turn models from other tools into picoml IR."""
