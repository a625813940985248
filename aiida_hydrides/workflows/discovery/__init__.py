"""The end-to-end discovery: from a chemical system to ranked superconductor candidates."""
