"""WorkChains of aiida-hydrides."""
