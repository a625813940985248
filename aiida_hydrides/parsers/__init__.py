"""Parsers of aiida-hydrides."""
