"""Protocols of the screening work chain."""
