"""``SearchCalculation``: structure searches of several compositions (``hydrides-lam search``) on any AiiDA computer.

One job searches a list of compositions with one DeePMD model and returns three nodes, whatever the budget:
``samples`` (one ``ArrayData`` with every relaxed structure of every composition, see
:mod:`aiida_hydrides.data.structure_batch`), ``minima`` (one ``ArrayData`` with the distinct minima within
``window_mev`` of each composition's best) and ``summary`` (a ``Dict``). The model file travels as a
``SinglefileData`` and keeps its suffix, which DeePMD uses to choose the backend.

Walltime: the worker's ``max_wall_s`` (a search parameter) is, unless given, ``metadata.options.max_wallclock_seconds``
less a safety margin (:func:`~aiida_hydrides.calculations.base.worker_time_limit`); past it the worker starts no
further composition, writes the results of those it finished and the job ends with ``ERROR_OUT_OF_WALLTIME`` (400), the three outputs attached and
the summary listing the unfinished compositions (status ``not_started``, or ``interrupted`` after a SIGTERM).
Out of memory: ``ERROR_OUT_OF_MEMORY`` (401), likewise with the finished compositions attached.
:class:`~aiida_hydrides.workflows.search.base.SearchBaseWorkChain` restarts such jobs on the unfinished compositions.
"""

from __future__ import annotations

import json

from aiida import orm

from aiida_hydrides.calculations.base import LamWorkerCalculation

__all__ = ('SearchCalculation', 'validate_search_parameters')


def _validate_compositions(node, _):
    items = node.get_list()
    if not items:
        return 'the list of compositions is empty'
    for item in items:
        if isinstance(item, str):
            if not item.strip():
                return 'a composition is an empty string'
        elif isinstance(item, dict):
            if not item or not all(isinstance(key, str) for key in item):
                return f'a composition object maps element symbols to counts, got {item!r}'
        else:
            return f'a composition is a formula such as "CaYH12" or an object of counts, got {item!r}'
    return None


def validate_search_parameters(parameters: dict) -> str | None:
    """The reason why ``parameters`` are not valid search parameters, or ``None``: they are parsed as the worker
    parses them (names, types and ranges of :class:`~aiida_hydrides.core.search.engine.SearchSettings`)."""
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.search.worker import settings_from_parameters

    try:
        settings_from_parameters(parameters)
    except (HydridesInputError, TypeError, ValueError) as exc:
        return str(exc)
    return None


def _validate_parameters(node, _):
    return validate_search_parameters(node.get_dict())


class SearchCalculation(LamWorkerCalculation):
    """Search the low-enthalpy structures of several compositions at a target pressure (``hydrides-lam search``)."""

    _COMMAND = 'search'
    _STOPS_BEFORE_WALLTIME = True
    _PARSER_NAME = 'hydrides.search'
    _INPUT_COMPOSITIONS = 'compositions.json'
    _OUTPUT_FILE = 'samples.npz'
    _MINIMA_FILE = 'minima.npz'
    _SUMMARY_FILE = 'search.json'
    #: the worker's results become the three outputs: retrieved for the parser only, not stored twice
    _RETRIEVE_TEMPORARY_FILES = (_OUTPUT_FILE, _MINIMA_FILE, _SUMMARY_FILE)
    _STDOUT_FILE = 'search.log'
    _KEEP_NONE = ('seed',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'compositions',
            valid_type=orm.List,
            validator=_validate_compositions,
            help='The compositions to search: formulas such as "CaYH12" (the reduced formula is the formula '
            'unit) or objects of counts such as {"Ca": 1, "Y": 1, "H": 12}.',
        )
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            validator=_validate_parameters,
            required=False,
            help='Fields of SearchSettings (pressure_gpa in GPa, budget = relaxations per composition, '
            'population, max_atoms, seed, max_steps, fmax, batch_size, ...) plus window_mev (meV/atom '
            'above the best for the minima, default 100), head, threads, rules (CompositionRules fields), '
            'compress (evaluate the compressed copy of a frozen .pth model; default True) and max_wall_s '
            '(seconds after which no further composition is started; default: max_wallclock_seconds '
            'less a margin). trajectory_every > 0 keeps every k-th frame along each relaxation in `samples` '
            '(trajectory_* arrays) for concurrent learning.',
        )

        spec.output(
            'samples',
            valid_type=orm.ArrayData,
            help='Every relaxed structure of every composition, packed (numbers, positions and cells in single '
            'precision, offsets), with per-structure arrays composition_index, formula, local_index, '
            'enthalpy_per_atom (eV), energy (eV), volume (Å³), flag, generation, origin, n_steps, natoms and '
            'duplicate_of (index of the structure it repeats, -1 if none); with trajectory_every > 0 also the frames '
            'along the relaxations (trajectory_numbers, trajectory_positions, trajectory_cells, trajectory_offsets, '
            'trajectory_sample, trajectory_step); see parsers.search.compact_arrays.',
        )
        spec.output(
            'minima',
            valid_type=orm.ArrayData,
            help='The distinct minima within window_mev of the best of each composition, packed, with '
            'composition_index, formula, sample_index, rank, enthalpy_per_atom, relative_mev, '
            'space_group_number, space_group_symbol, natoms, generation, origin, flag, duplicates.',
        )
        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='Per composition: status (finished, failed, or interrupted / not_started when the worker '
            'stopped early), best enthalpy and space group, relaxations, counts, number of minima (the minima '
            'themselves are in `minima`), timing; plus the settings, the model (name, md5, type map), stopped and '
            'unfinished.',
        )
        spec.default_output_node = 'summary'

        spec.exit_code(
            323,
            'ERROR_INVALID_COMPOSITION',
            message='A composition is malformed or breaks the composition rules: {message}',
        )
        spec.exit_code(
            324, 'ERROR_ATOM_BUDGET', message='The atom budget max_atoms is smaller than a formula unit: {message}'
        )
        spec.exit_code(
            410,
            'ERROR_NO_USABLE_RELAXATION',
            message='No composition gave a usable relaxation ({counts}); outputs are attached.',
        )
        spec.exit_code(
            411,
            'ERROR_COMPOSITIONS_FAILED',
            message='The search failed for {formulas}: {message}; the outputs of the other compositions are attached.',
        )

    def write_inputs(self, folder) -> list[str]:
        with folder.open(self._INPUT_COMPOSITIONS, 'w') as handle:
            json.dump(self.inputs.compositions.get_list(), handle, indent=2)
        return [
            '--compositions',
            self._INPUT_COMPOSITIONS,
            '--output',
            self._OUTPUT_FILE,
            '--minima',
            self._MINIMA_FILE,
            '--summary',
            self._SUMMARY_FILE,
        ]
