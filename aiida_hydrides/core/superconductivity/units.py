"""Energy and temperature conversion constants used by the superconductivity tools.

Every frequency ``omega`` in this package is an energy; temperatures and frequencies are both expressed in kelvin
(``k_B = 1``) at the interfaces that end in ``_K``.
"""

#: 1 Rydberg in kelvin.
RY_TO_K = 157887.5
#: 1 Rydberg in THz.
RY_TO_THZ = 3289.8
#: 1 THz in kelvin.
THZ_TO_K = 47.992
#: 1 meV in kelvin.
MEV_TO_K = 11.6045
#: 1 cm^-1 in kelvin.
CM1_TO_K = 1.43878
#: 1 Rydberg in meV.
RY_TO_MEV = RY_TO_K / MEV_TO_K
#: 1 Rydberg in cm^-1.
RY_TO_CM1 = RY_TO_K / CM1_TO_K
