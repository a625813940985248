"""Protocols of the epc work chains."""
