"""aiida-hydrides: discovery of high-Tc superconducting hydrides under pressure, with AiiDA provenance."""

__version__ = '0.1.0'
