"""Calcfunction ``hydrides.epc.projected_dos``: total and hydrogen-projected DOS at E_F from a projwfc.x run."""

from collections import defaultdict

import numpy as np
from aiida import orm
from aiida.engine import ExitCode, calcfunction

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.projected_dos import DEFAULT_WINDOW_EV, projected_dos_at_fermi

__all__ = ('projected_dos_at_fermi_level', 'EXIT_INVALID_PROJECTIONS')

#: exit status when the projwfc.x outputs cannot be turned into N(E_F)
EXIT_INVALID_PROJECTIONS = 313


@calcfunction
def projected_dos_at_fermi_level(dos, projections, scf_parameters, structure, window_ev=None):
    """N(E_F) total, per atom and per element (hydrogen share first of all) from the outputs of projwfc.x.

    :param dos: the ``Dos`` XyData of projwfc.x (energy in eV, total DOS in states/eV).
    :param projections: the ``projections`` ProjectionData of projwfc.x (PDOS per orbital).
    :param scf_parameters: ``output_parameters`` of the pw.x run that projwfc.x read (its ``fermi_energy`` in eV).
    :param structure: the structure (maps the kind names of the orbitals to elements).
    :param window_ev: half-width of the Gaussian average around E_F (eV); default 0.1.
    """
    try:
        energy = np.asarray(dos.get_x()[1], dtype=float)
        total = np.asarray(dos.get_y()[0][1], dtype=float)
        fermi = scf_parameters.get('fermi_energy')
        if fermi is None:
            raise HydridesInputError('the pw.x output parameters have no `fermi_energy` (not a metal run?)')
        by_element = defaultdict(lambda: np.zeros_like(energy))
        sites = projections.get_pdos()
        for orbital, pdos, orbital_energy in sites:
            element = structure.get_kind(orbital.get_orbital_dict()['kind_name']).symbol
            values = np.interp(energy, np.asarray(orbital_energy, dtype=float), np.asarray(pdos, dtype=float))
            by_element[element] = by_element[element] + values
        natoms = len(structure.sites)
        result = projected_dos_at_fermi(
            energy,
            total,
            dict(by_element),
            float(fermi),
            natoms,
            window_ev=float(window_ev.value) if window_ev is not None else DEFAULT_WINDOW_EV,
        )
    except (HydridesInputError, KeyError, IndexError, ValueError) as exception:
        return ExitCode(EXIT_INVALID_PROJECTIONS, f'cannot compute the DOS at E_F from projwfc.x: {exception}')
    return orm.Dict(result)
