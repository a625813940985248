"""Calcfunctions: light, in-process steps (parsing, Tc from alpha^2F)."""
