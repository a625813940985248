"""Calcfunction ``hydrides.epc.tc``: λ, ω_log and Tc from the retrieved files of an el-ph matdyn.x run."""

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from aiida_hydrides.core.epc_report import (
    RY_TO_MEV,
    NoStatesAtFermiLevelError,
    build_tc_report,
)
from aiida_hydrides.core.errors import HydridesInputError

__all__ = ('compute_tc', 'EXIT_NO_STATES_AT_FERMI_LEVEL', 'EXIT_INVALID_ELPH_FILES', 'DEFAULT_TC_PARAMETERS')

#: exit status of ``compute_tc`` when N(E_F) = 0 or λ = 0 at every σ.
EXIT_NO_STATES_AT_FERMI_LEVEL = 411
#: exit status of ``compute_tc`` when the a2F.dos/lambda files are missing or unreadable.
EXIT_INVALID_ELPH_FILES = 312

DEFAULT_TC_PARAMETERS = {
    'mustars': [0.10, 0.13],
    'eliashberg': True,
    'plateau_tolerance': 0.05,
    'agreement_tolerance': 0.05,
}


def _read_folder(retrieved: orm.FolderData) -> tuple[dict[int, str], str]:
    names = set(retrieved.base.repository.list_object_names())
    if 'lambda' not in names:
        raise HydridesInputError('the matdyn.x retrieved folder has no `lambda` file (was la2f set?)')
    a2f = {}
    for name in names:
        if name.startswith('a2F.dos') and name[len('a2F.dos') :].isdigit():
            a2f[int(name[len('a2F.dos') :])] = retrieved.base.repository.get_object_content(name)
    return a2f, retrieved.base.repository.get_object_content('lambda')


@calcfunction
def compute_tc(retrieved, parameters=None):
    """Compute λ, ω_log, ω̄2 and Tc (McMillan, Allen–Dynes, Eliashberg, for each μ*) from matdyn.x el-ph outputs.

    :param retrieved: the ``retrieved`` folder of a matdyn.x run with ``la2f`` (``a2F.dos1..N`` and ``lambda``).
    :param parameters: optional ``{'mustars': [...], 'eliashberg': bool, 'plateau_tolerance': float,
        'agreement_tolerance': float}``; see :mod:`aiida_hydrides.core.epc_report` for the σ plateau rule.
    :return: ``tc`` (Dict: scalars at the chosen σ at top level, the per-σ table under ``per_sigma``) and ``a2f``
        (XyData: ω in meV against α²F and the cumulative λ(ω) at the chosen σ).
    """
    options = dict(DEFAULT_TC_PARAMETERS)
    if parameters is not None:
        unknown = set(parameters.get_dict()) - set(options)
        if unknown:
            return ExitCode(EXIT_INVALID_ELPH_FILES, f'unknown Tc parameters: {sorted(unknown)}')
        options.update(parameters.get_dict())
    try:
        a2f_texts, lambda_text = _read_folder(retrieved)
        report, spectrum = build_tc_report(
            a2f_texts,
            lambda_text,
            mustars=tuple(options['mustars']),
            eliashberg=bool(options['eliashberg']),
            plateau_tolerance=float(options['plateau_tolerance']),
            agreement_tolerance=float(options['agreement_tolerance']),
        )
    except NoStatesAtFermiLevelError as exception:
        return ExitCode(EXIT_NO_STATES_AT_FERMI_LEVEL, str(exception))
    except (HydridesInputError, ValueError) as exception:
        return ExitCode(EXIT_INVALID_ELPH_FILES, f'cannot read the matdyn.x el-ph files: {exception}')

    import numpy as np

    omega_ry = np.asarray(spectrum['omega_ry'])
    a2f = np.asarray(spectrum['a2f'])
    positive = omega_ry > 0
    integrand = np.where(positive, 2.0 * a2f / np.where(positive, omega_ry, 1.0), 0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(omega_ry))])

    xy = orm.XyData()
    xy.set_x(omega_ry * RY_TO_MEV, 'omega', 'meV')
    xy.set_y([a2f, cumulative], ['a2F', 'lambda_cumulative'], ['1', '1'])
    xy.base.attributes.set('el_ph_sigma_ry', report['el_ph_sigma_ry'])
    return {'tc': orm.Dict(report), 'a2f': xy}
