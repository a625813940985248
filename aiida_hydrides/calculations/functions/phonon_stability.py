"""Calcfunction: dynamical-stability verdict from the dynamical matrices retrieved by a ph.x run."""

import re

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from aiida_hydrides.core.phonon_stability import parse_dyn_file, parse_ph_stdout, stability_summary

__all__ = ('analyse_phonon_stability', 'DYN_MAT_FOLDER')

#: where aiida-quantumespresso's PhCalculation retrieves the dynamical matrices (``dynamical-matrix-<iq>``).
DYN_MAT_FOLDER = 'DYN_MAT'
_DYN_NAME = re.compile(r'^dynamical-matrix-(\d+)$')


def read_retrieved_qpoints(retrieved: orm.FolderData) -> list:
    """The q-points and frequencies of a ph.x ``retrieved`` folder: its dynamical matrices, else its stdout."""
    repository = retrieved.base.repository
    files = []
    if DYN_MAT_FOLDER in repository.list_object_names():
        for name in repository.list_object_names(DYN_MAT_FOLDER):
            match = _DYN_NAME.match(name)
            if match and int(match.group(1)) >= 1:
                files.append((int(match.group(1)), name))
    if files:
        return [
            parse_dyn_file(repository.get_object_content(f'{DYN_MAT_FOLDER}/{name}'), label=f'{name}')
            for _, name in sorted(files)
        ]
    for name in ('aiida.out',):
        if name in repository.list_object_names():
            return parse_ph_stdout(repository.get_object_content(name))
    return []


@calcfunction
def analyse_phonon_stability(retrieved, threshold_cm, gamma_radius):
    """Return ``phonon_stability`` (Dict): lowest frequency per irreducible q and the imaginary modes found.

    :param retrieved: the ``retrieved`` FolderData of a PhCalculation.
    :param threshold_cm: a mode with ω < −threshold (cm⁻¹) is imaginary.
    :param gamma_radius: q-points with ``|q|`` < gamma_radius (2π/alat) are exempt.
    """
    try:
        qpoints = read_retrieved_qpoints(retrieved)
    except ValueError as exception:
        return ExitCode(320, f'unreadable ph.x dynamical matrix: {exception}')
    if not qpoints:
        return ExitCode(321, 'the ph.x retrieved folder holds neither dynamical matrices nor frequencies in stdout')
    return {'phonon_stability': orm.Dict(stability_summary(qpoints, threshold_cm.value, gamma_radius.value))}
