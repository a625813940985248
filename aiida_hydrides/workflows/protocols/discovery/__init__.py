"""Protocols of the discovery work chain."""
