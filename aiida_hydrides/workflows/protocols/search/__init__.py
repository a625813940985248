"""Protocols of the search work chains."""
