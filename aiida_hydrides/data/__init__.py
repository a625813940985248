"""Data plugins of aiida-hydrides."""
