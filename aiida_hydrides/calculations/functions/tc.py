"""Calcfunction ``hydrides.epc.tc``: λ, ω_log and Tc from the retrieved files of an el-ph matdyn.x run."""

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from aiida_hydrides.core.epc_report import (
    DEFAULT_TC_PARAMETERS,
    RY_TO_MEV,
    NoEligibleSigmaError,
    NoStatesAtFermiLevelError,
    build_tc_report,
    check_tc_parameters,
)
from aiida_hydrides.core.errors import HydridesInputError

__all__ = (
    'compute_tc',
    'EXIT_NO_STATES_AT_FERMI_LEVEL',
    'EXIT_NO_ELIGIBLE_SIGMA',
    'EXIT_INVALID_ELPH_FILES',
    'DEFAULT_TC_PARAMETERS',  # re-exported from aiida_hydrides.core.epc_report
)

#: exit status of ``compute_tc`` when N(E_F) = 0 or λ = 0 at every σ.
EXIT_NO_STATES_AT_FERMI_LEVEL = 411
#: exit status of ``compute_tc`` when clipping the negative α²F changes λ by more than the tolerance at every σ.
EXIT_NO_ELIGIBLE_SIGMA = 412
#: exit status of ``compute_tc`` when the a2F.dos/lambda files are missing or unreadable, or ``parameters`` is invalid.
EXIT_INVALID_ELPH_FILES = 312


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
        'agreement_tolerance': float, 'clipping_tolerance': float}`` (defaults: ``DEFAULT_TC_PARAMETERS``); see
        :mod:`aiida_hydrides.core.epc_report` for the σ plateau rule and the clipping test.
    :return: ``tc`` (Dict: scalars at the chosen σ at top level, the per-σ table under ``per_sigma``) and ``a2f``
        (XyData: ω in meV against α²F and the cumulative λ(ω) at the chosen σ).
    """
    try:
        options = check_tc_parameters(parameters.get_dict() if parameters is not None else None)
    except HydridesInputError as exception:
        return ExitCode(EXIT_INVALID_ELPH_FILES, f'invalid Tc parameters: {exception}')
    try:
        a2f_texts, lambda_text = _read_folder(retrieved)
        report, spectrum = build_tc_report(
            a2f_texts,
            lambda_text,
            mustars=tuple(options['mustars']),
            eliashberg=options['eliashberg'],
            plateau_tolerance=options['plateau_tolerance'],
            agreement_tolerance=options['agreement_tolerance'],
            clipping_tolerance=options['clipping_tolerance'],
        )
    except NoStatesAtFermiLevelError as exception:
        return ExitCode(EXIT_NO_STATES_AT_FERMI_LEVEL, str(exception))
    except NoEligibleSigmaError as exception:
        return ExitCode(EXIT_NO_ELIGIBLE_SIGMA, str(exception))
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
