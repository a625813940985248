"""The structures a screening run works on: the LAM minima of one group at one pressure, checked before anything runs.

:func:`load_screen_group` is called both by the work chain (its ``setup`` step maps a :class:`ScreenInputError` to
an exit code) and by the command line before it launches anything, so that a group that cannot be screened is refused
with the same message and nothing stored.
"""

from __future__ import annotations

import dataclasses

from aiida import orm

from aiida_hydrides.extras import HYDRIDES_EXTRA

__all__ = ('CANDIDATE_KINDS', 'ScreenInputError', 'ScreenGroup', 'load_screen_group', 'candidate_key', 'find_model')

#: which structures of the group are candidates: every hydride (H and at least one other element), or ternaries only
CANDIDATE_KINDS = ('hydrides', 'ternaries')


class ScreenInputError(ValueError):
    """A group, pressure, model or family that cannot be screened; ``exit_code`` names the work chain's exit code."""

    def __init__(self, exit_code: str, message: str, **details):
        super().__init__(message)
        self.exit_code = exit_code
        self.details = details


def candidate_key(node) -> str:
    """The key of a structure in the work chain's inputs, outputs and dictionaries: ``c<pk>``."""
    return f'c{node.pk}'


@dataclasses.dataclass
class ScreenGroup:
    """The LAM structures of a group at one pressure."""

    label: str
    uuid: str
    pressure: float
    #: every element of the structures, hydrogen last
    elements: list
    #: key -> StructureData of every LAM structure (candidates and references)
    structures: dict
    #: key -> its ``hydrides`` extra
    tags: dict
    #: the keys of the candidates
    candidates: list
    #: structures of the group that are not LAM structures (left out)
    ignored: int

    @property
    def system(self) -> str:
        """The chemical system, e.g. ``Ca-Y`` (hydrogen left out)."""
        return '-'.join(symbol for symbol in self.elements if symbol != 'H')

    def formula(self, key) -> str:
        return self.structures[key].get_formula(mode='hill_compact')


def _elements(structure) -> list:
    return sorted(structure.get_symbols_set())


def load_screen_group(label: str, pressure: float | None = None, candidates: str = 'hydrides') -> ScreenGroup:
    """The LAM structures of the group ``label`` (``StructureData`` tagged ``method = 'lam'`` with an
    ``enthalpy_lam_ev``), checked: they share one pressure (equal to ``pressure`` when given), hydrides are among
    them, and every element has an elemental structure (the references of the hull).

    :raises ScreenInputError: with ``exit_code`` ``ERROR_GROUP_NOT_FOUND``, ``ERROR_NO_STRUCTURES``,
        ``ERROR_MIXED_PRESSURES``, ``ERROR_PRESSURE_MISMATCH``, ``ERROR_NO_HYDRIDES`` or ``ERROR_MISSING_REFERENCES``.
    """
    from aiida.common.exceptions import NotExistent

    from aiida_hydrides.core.compositions import HYDROGEN
    from aiida_hydrides.core.screening import is_hydride, missing_elements

    if candidates not in CANDIDATE_KINDS:
        raise ScreenInputError(
            'ERROR_INVALID_INPUT', f'candidates must be one of {", ".join(CANDIDATE_KINDS)}, got {candidates!r}'
        )
    try:
        group = orm.load_group(label=label)
    except NotExistent:
        raise ScreenInputError('ERROR_GROUP_NOT_FOUND', f'there is no group {label!r}', group=label) from None

    query = orm.QueryBuilder().append(orm.Group, filters={'id': group.pk}, tag='group')
    query.append(orm.StructureData, with_group='group', project=['*', f'extras.{HYDRIDES_EXTRA}'])
    structures, tags, ignored = {}, {}, 0
    for node, extra in query.iterall():
        extra = extra or {}
        if extra.get('method') != 'lam' or extra.get('enthalpy_lam_ev') is None or extra.get('pressure_gpa') is None:
            ignored += 1
            continue
        key = candidate_key(node)
        structures[key], tags[key] = node, extra
    if not structures:
        raise ScreenInputError(
            'ERROR_NO_STRUCTURES',
            f'group {label!r} holds no LAM structures (StructureData tagged method=lam with enthalpy_lam_ev and '
            f'pressure_gpa); fill it with `aiida-hydrides search`',
            group=label,
        )

    pressures = {}
    for key, extra in tags.items():
        pressures.setdefault(float(extra['pressure_gpa']), []).append(key)
    if len(pressures) > 1:
        counts = ', '.join(f'{value:g} GPa ({len(keys)})' for value, keys in sorted(pressures.items()))
        raise ScreenInputError(
            'ERROR_MIXED_PRESSURES',
            f'the structures of group {label!r} are at different pressures: {counts}; screen one pressure per group',
            pressures=sorted(pressures),
        )
    found = next(iter(pressures))
    if pressure is not None and abs(float(pressure) - found) > 1e-6:
        raise ScreenInputError(
            'ERROR_PRESSURE_MISMATCH',
            f'the structures of group {label!r} are at {found:g} GPa, not at the requested {float(pressure):g} GPa',
        )

    elements = sorted({symbol for node in structures.values() for symbol in node.get_symbols_set()})
    if HYDROGEN in elements:
        elements = [symbol for symbol in elements if symbol != HYDROGEN] + [HYDROGEN]
    selected = []
    for key, node in structures.items():
        symbols = _elements(node)
        if not is_hydride(symbols):
            continue
        if candidates == 'ternaries' and len(symbols) < 3:
            continue
        selected.append(key)
    if not selected:
        raise ScreenInputError(
            'ERROR_NO_HYDRIDES',
            f'group {label!r} holds no {"ternary hydride" if candidates == "ternaries" else "hydride"} to screen '
            f'(its {len(structures)} LAM structures are {", ".join(sorted({n.get_formula() for n in structures.values()}))})',
        )

    missing = missing_elements(elements, [node.get_formula() for node in structures.values()])
    if missing:
        raise ScreenInputError(
            'ERROR_MISSING_REFERENCES',
            f'the convex hull needs a structure of every element, and group {label!r} has none of '
            f'{", ".join(missing)}: search them first (`aiida-hydrides search {"-".join(e for e in elements if e != "H")}'
            f' -c {",".join(missing)} --group {label}`, or `--search-missing`)',
            missing=missing,
        )
    selected.sort(key=lambda key: int(key[1:]))
    return ScreenGroup(
        label=group.label,
        uuid=group.uuid,
        pressure=found,
        elements=elements,
        structures=structures,
        tags=tags,
        candidates=selected,
        ignored=ignored,
    )


def find_model(label: str) -> orm.SinglefileData:
    """The model the LAM structures of the group ``label`` were found with: the ``model`` input of the search jobs
    that made them (``calc_uuid`` of their tags).

    :raises ScreenInputError: ``ERROR_NO_MODEL`` when the jobs are not known, ``ERROR_SEVERAL_MODELS`` when they used
        different models.
    """
    from aiida.common.exceptions import NotExistent

    query = orm.QueryBuilder().append(orm.Group, filters={'label': label}, tag='group')
    query.append(orm.StructureData, with_group='group', project=f'extras.{HYDRIDES_EXTRA}')
    tags = [extra for extra in query.all(flat=True) if extra and extra.get('method') == 'lam']
    digests = {(extra.get('model') or {}).get('md5') for extra in tags} - {None}
    if len(digests) > 1:
        raise ScreenInputError(
            'ERROR_SEVERAL_MODELS',
            f'the structures of group {label!r} come from {len(digests)} different models; give the model for the '
            'phonons explicitly',
        )
    for extra in tags:
        uuid = extra.get('calc_uuid')
        if not uuid:
            continue
        try:
            calc = orm.load_node(uuid)
        except NotExistent:
            continue
        if 'model' in calc.inputs:
            return calc.inputs.model
    raise ScreenInputError(
        'ERROR_NO_MODEL',
        f'the structures of group {label!r} do not record the job that found them; give the DeePMD model for the '
        'phonons explicitly',
    )


def check_model_elements(path, elements, name: str | None = None) -> None:
    """Check that the DeePMD model file ``path`` knows ``elements`` (when its type map can be read without loading it).

    :raises ScreenInputError: ``ERROR_MODEL_LACKS_ELEMENTS`` naming the elements and the type map.
    """
    from aiida_hydrides.core.search.worker import read_type_map

    type_map = read_type_map(path)
    if type_map is None:
        return
    lacking = sorted(set(elements) - set(type_map))
    if lacking:
        raise ScreenInputError(
            'ERROR_MODEL_LACKS_ELEMENTS',
            f'the model {name or path} does not know {", ".join(lacking)} (its type map is {type_map})',
        )


def check_family_elements(label: str | None, elements) -> str:
    """Check that the pseudopotential family ``label`` (default: the offline pslibrary family) is installed and covers
    ``elements``; return its label.

    :raises ScreenInputError: ``ERROR_PSEUDO_FAMILY`` with the family's own message.
    """
    from aiida_hydrides.pseudos import DEFAULT_FAMILY_LABEL, PseudoFamilyError, check_family_covers, get_pseudo_family

    label = label or DEFAULT_FAMILY_LABEL
    try:
        check_family_covers(get_pseudo_family(label), list(elements))
    except (PseudoFamilyError, ValueError) as exc:
        raise ScreenInputError('ERROR_PSEUDO_FAMILY', str(exc)) from None
    return label
