"""Recommended plane-wave cutoffs for hydrides at megabar pressures.

ld1.x suggests a wavefunction and a charge-density cutoff for every generated pseudopotential (``wfc_cutoff`` and
``rho_cutoff`` in the UPF header). They are tested on the free atom and on ambient-pressure solids. At 100-300 GPa
bonds are 10-20 % shorter, the valence density is harder and the stress converges more slowly with the basis, so
the recommended cutoff of an element is

    cutoff_wfc = ceil_5( max(margin * wfc_cutoff_ld1, floor) )
    cutoff_rho = ceil_10( max(dual * cutoff_wfc, margin * rho_cutoff_ld1) )

with ``dual = 8`` (ultrasoft and PAW augmentation charges) and, per stringency,

========== ======  ==========  ===================================================
stringency margin  floor (Ry)  use
========== ======  ==========  ===================================================
low        1.00    40          screening, structure pre-relaxation
normal     1.10    60          production enthalpies and phonons (H3S needs >= 50-60)
high       1.25    80          convergence checks, final EPC
========== ======  ==========  ===================================================

For a structure the cutoffs are the maximum over its elements (aiida-pseudo's ``get_recommended_cutoffs``).
"""

from __future__ import annotations

import dataclasses
import math

#: charge-density to wavefunction cutoff ratio for ultrasoft/PAW pseudopotentials
DUAL = 8.0


@dataclasses.dataclass(frozen=True)
class CutoffRule:
    """How a stringency turns the ld1.x suggestion into a recommended cutoff (Ry)."""

    margin: float
    floor_wfc: float
    dual: float = DUAL


#: the stringencies stored in the pseudopotential family; ``normal`` is the default
STRINGENCIES = {
    'low': CutoffRule(margin=1.0, floor_wfc=40.0),
    'normal': CutoffRule(margin=1.1, floor_wfc=60.0),
    'high': CutoffRule(margin=1.25, floor_wfc=80.0),
}
DEFAULT_STRINGENCY = 'normal'


def _ceil_to(value: float, step: float) -> float:
    return float(math.ceil(round(value / step, 9)) * step)


def recommended_cutoffs(wfc_suggested: float, rho_suggested: float, stringency: str = DEFAULT_STRINGENCY) -> dict:
    """Return ``{'cutoff_wfc': ..., 'cutoff_rho': ...}`` in Ry for one element from its ld1.x suggestion (Ry)."""
    try:
        rule = STRINGENCIES[stringency]
    except KeyError:
        raise ValueError(f'unknown stringency {stringency!r}; choose one of {sorted(STRINGENCIES)}') from None
    if not (wfc_suggested >= 0 and rho_suggested >= 0):
        raise ValueError(f'invalid suggested cutoffs {wfc_suggested}/{rho_suggested} Ry')
    cutoff_wfc = _ceil_to(max(rule.margin * wfc_suggested, rule.floor_wfc), 5.0)
    cutoff_rho = _ceil_to(max(rule.dual * cutoff_wfc, rule.margin * rho_suggested), 10.0)
    return {'cutoff_wfc': cutoff_wfc, 'cutoff_rho': cutoff_rho}


def family_cutoffs(suggestions: dict[str, tuple[float, float]], stringency: str = DEFAULT_STRINGENCY) -> dict:
    """Recommended cutoffs per element, ``{element: {'cutoff_wfc', 'cutoff_rho'}}``, from ld1.x suggestions."""
    return {element: recommended_cutoffs(wfc, rho, stringency) for element, (wfc, rho) in suggestions.items()}
