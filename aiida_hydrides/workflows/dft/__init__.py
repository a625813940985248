"""DFT work chains: the enthalpy of a structure at pressure (``hydrides.dft.enthalpy``)."""
