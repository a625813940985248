"""Protocols of the LAM work chains (concurrent learning)."""
