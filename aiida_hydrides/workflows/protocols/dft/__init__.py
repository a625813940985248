"""Protocols of the dft work chains."""
