"""The offline pseudopotential family: pslibrary 1.0.0 PBE, generated with ld1.x and installed with aiida-pseudo.

The UPF files are generated once into a cache folder (``~/.cache/aiida-hydrides/pseudos/pslibrary-1.0.0-PBE-US/``,
or below ``$HYDRIDES_PSEUDO_CACHE``) and reused by every family label and profile, so that the md5 checksums of the pseudopotentials, and with
them the provenance and the caching of calculations, stay the same. Any installed aiida-pseudo family (SSSP,
PseudoDojo) can be used instead by passing its label.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import tempfile

from aiida import orm
from aiida.manage import get_manager
from aiida_pseudo.data.pseudo import UpfData
from aiida_pseudo.groups.family import CutoffsPseudoPotentialFamily, PseudoPotentialFamily

from aiida_hydrides.core.elements import DEFAULT_ELEMENTS
from aiida_hydrides.core.pseudo import (
    DEFAULT_STRINGENCY,
    STRINGENCIES,
    PseudoTableError,
    check_kind,
    family_cutoffs,
    generate_pseudos,
    get_entry,
    load_table,
    read_upf_header,
)

__all__ = (
    'DEFAULT_FAMILY_LABEL',
    'FAMILY_LABELS',
    'MissingElementsError',
    'MissingPseudoFamilyError',
    'PseudoFamilyError',
    'PseudoGenerationError',
    'check_family_covers',
    'default_family_label',
    'ensure_cached_pseudos',
    'ensure_pseudo_family',
    'get_pseudo_family',
    'pseudo_cache_dir',
)

#: label of the default family (ultrasoft); the PAW twin is ``FAMILY_LABELS['paw']``
DEFAULT_FAMILY_LABEL = 'PSL/1.0.0/PBE/US/hydrides'
FAMILY_LABELS = {'us': DEFAULT_FAMILY_LABEL, 'paw': 'PSL/1.0.0/PBE/PAW/hydrides'}
#: environment variable naming the root of the UPF cache
CACHE_ENV = 'HYDRIDES_PSEUDO_CACHE'
MANIFEST = 'manifest.json'
UPF_FOLDER = 'upf'

_DOWNLOADED_FAMILIES = re.compile(r'^(SSSP|PseudoDojo)/', re.IGNORECASE)
_SETUP_HINT = (
    'run `aiida-hydrides setup` to generate the offline pslibrary family, or install another family with '
    '`aiida-pseudo install sssp` / `aiida-pseudo install pseudo-dojo` (needs internet) and pass its label'
)


class PseudoFamilyError(ValueError):
    """A pseudopotential family that is missing, incomplete or cannot be created."""


class MissingPseudoFamilyError(PseudoFamilyError):
    """No pseudopotential family with the requested label is installed."""


class MissingElementsError(PseudoFamilyError):
    """The family has no pseudopotential for some of the requested elements."""

    def __init__(self, message: str, missing: list[str]):
        super().__init__(message)
        self.missing = missing


class PseudoGenerationError(PseudoFamilyError):
    """ld1.x failed for some elements; the message lists each element and the reason."""

    def __init__(self, message: str, failed: dict):
        super().__init__(message)
        self.failed = failed


def default_family_label(kind: str = 'us') -> str:
    """Label of the offline family of ``kind`` ('us' or 'paw')."""
    return FAMILY_LABELS[check_kind(kind)]


def _slug(label: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', label).strip('_') or 'family'


def pseudo_cache_dir(kind: str = 'us') -> pathlib.Path:
    """Cache folder of the generated UPF files of ``kind``, shared by every family label and profile:
    ``$HYDRIDES_PSEUDO_CACHE/<table>-<KIND>`` or ``$XDG_CACHE_HOME/aiida-hydrides/pseudos/<table>-<KIND>``
    (``~/.cache`` by default)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        base = pathlib.Path(root).expanduser()
    else:
        base = pathlib.Path(os.environ.get('XDG_CACHE_HOME') or pathlib.Path.home() / '.cache') / 'aiida-hydrides'
        base = base / 'pseudos'
    return base / _slug(f'{load_table()["name"]}-{check_kind(kind).upper()}')


def _elements_of(elements) -> list[str]:
    """Element symbols from a list of symbols, a ``StructureData``, or ``None`` (the 29 default elements)."""
    if elements is None:
        return list(DEFAULT_ELEMENTS)
    if isinstance(elements, str):
        return [elements]
    if hasattr(elements, 'get_symbols_set'):
        return sorted(elements.get_symbols_set())
    if hasattr(elements, 'get_chemical_symbols'):
        return sorted(set(elements.get_chemical_symbols()))
    return list(dict.fromkeys(elements))


def _md5(path: pathlib.Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _locked(folder: pathlib.Path):
    """Hold an exclusive lock on ``folder`` (several processes may fill the same cache)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / '.lock', 'w') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_manifest(cache_dir: pathlib.Path) -> dict:
    try:
        return json.loads((cache_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _write_manifest(cache_dir: pathlib.Path, manifest: dict) -> None:
    temporary = cache_dir / f'.{MANIFEST}.tmp'
    temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True) + '\n')
    os.replace(temporary, cache_dir / MANIFEST)


def ensure_cached_pseudos(elements=None, kind: str = 'us', cache_dir: str | pathlib.Path | None = None) -> dict:
    """Make sure the cache holds a validated UPF of each element; generate only the missing ones with ld1.x.

    Returns ``{element: {'name', 'filename', 'md5', 'z_valence', 'wfc_cutoff', 'rho_cutoff'}}`` for ``elements``.
    Raises :class:`PseudoGenerationError` naming each failed element (the others stay cached).
    """
    kind = check_kind(kind)
    elements = _elements_of(elements)
    cache_dir = pathlib.Path(cache_dir) if cache_dir else pseudo_cache_dir(kind)
    table = load_table()
    upf_dir = cache_dir / UPF_FOLDER
    unavailable = {}
    for element in elements:
        try:
            get_entry(element, kind, table)
        except PseudoTableError as exc:
            unavailable[element] = str(exc)
    if unavailable:
        raise PseudoFamilyError(
            f'no {kind.upper()} pseudopotential can be generated offline for {", ".join(unavailable)}:\n'
            + '\n'.join(f'  {reason}' for reason in unavailable.values())
            + '\ninstall a family that has them (e.g. `aiida-pseudo install sssp`) and pass its label'
        )

    with _locked(cache_dir):
        manifest = _read_manifest(cache_dir)
        if manifest.get('kind', kind) != kind:
            raise PseudoFamilyError(
                f'the pseudopotential cache {cache_dir} holds {manifest["kind"].upper()} files, '
                f'not {kind.upper()}; use another cache folder'
            )
        cached = manifest.get('elements', {})

        def is_valid(element: str) -> bool:
            record = cached.get(element)
            if not record or record.get('name') != get_entry(element, kind, table)['name']:
                return False
            path = upf_dir / record['filename']
            return path.is_file() and _md5(path) == record['md5']

        missing = [element for element in elements if not is_valid(element)]
        if missing:
            upf_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache_dir, prefix='.generate-') as scratch:
                result = generate_pseudos(missing, scratch, kind, table=table)
                for element, outcome in result.succeeded.items():
                    for stale in upf_dir.glob(f'{element}.*'):
                        stale.unlink()
                    target = upf_dir / outcome.path.name
                    os.replace(outcome.path, target)
                    cached[element] = {
                        'name': outcome.name,
                        'filename': target.name,
                        'md5': _md5(target),
                        'z_valence': outcome.z_valence,
                        'wfc_cutoff': outcome.wfc_cutoff,
                        'rho_cutoff': outcome.rho_cutoff,
                    }
            manifest.update({'kind': kind, 'table': table['name'], 'elements': cached})
            _write_manifest(cache_dir, manifest)
            if result.failed:
                raise PseudoGenerationError(
                    f'ld1.x could not generate every pseudopotential (cache: {cache_dir}).\n{result.summary()}',
                    {element: outcome.reason for element, outcome in result.failed.items()},
                )
    return {element: cached[element] for element in elements}


def get_pseudo_family(label: str = DEFAULT_FAMILY_LABEL) -> PseudoPotentialFamily:
    """Load the installed pseudopotential family ``label``, with a clear error naming the fix when it is missing."""
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    try:
        family = orm.QueryBuilder().append(PseudoPotentialFamily, filters={'label': label}, subclassing=True).one()[0]
    except NotExistent:
        raise MissingPseudoFamilyError(
            f'the pseudopotential family {label!r} is not installed; {_SETUP_HINT}'
        ) from None
    except MultipleObjectsError:
        raise PseudoFamilyError(f'several pseudopotential families are labelled {label!r}') from None
    return family


def check_family_covers(family: PseudoPotentialFamily, elements) -> None:
    """Raise :class:`MissingElementsError` naming the elements (symbols or a structure) the family lacks."""
    wanted = _elements_of(elements)
    missing = sorted(set(wanted) - set(family.elements))
    if missing:
        raise MissingElementsError(
            f'the pseudopotential family {family.label!r} has no pseudopotential for {", ".join(missing)}; '
            f'create a family that covers them, e.g. `aiida-hydrides setup --family MY-LABEL --elements '
            f'{",".join(sorted(set(wanted) | set(family.elements)))}`, or use one that does (SSSP, PseudoDojo)',
            missing,
        )


def ensure_pseudo_family(
    label: str | None = None,
    elements=None,
    kind: str = 'us',
    cache_dir: str | pathlib.Path | None = None,
) -> PseudoPotentialFamily:
    """Return the family ``label``, generating and installing the offline pslibrary family if it does not exist.

    :param label: family label; ``None`` gives the offline family of ``kind`` (:data:`DEFAULT_FAMILY_LABEL` for US).
        An existing family (SSSP, PseudoDojo, ...) is returned as it is, after checking it covers ``elements``.
    :param elements: element symbols, or a structure; ``None`` means the 29 default elements of the search.
    :param kind: 'us' (ultrasoft) or 'paw'.
    :param cache_dir: folder of the generated UPF files (default :func:`pseudo_cache_dir` of ``kind``).
    :raises MissingElementsError: the existing family lacks some elements (nothing is added to it).
    :raises PseudoGenerationError: ld1.x failed for some elements (no family is created).
    """
    kind = check_kind(kind)
    label = label or default_family_label(kind)
    wanted = _elements_of(elements)
    try:
        family = get_pseudo_family(label)
    except MissingPseudoFamilyError:
        if _DOWNLOADED_FAMILIES.match(label):
            raise
    else:
        check_family_covers(family, wanted)
        return family

    cache_dir = pathlib.Path(cache_dir) if cache_dir else pseudo_cache_dir(kind)
    records = ensure_cached_pseudos(wanted, kind, cache_dir)
    suggestions = {element: (record['wfc_cutoff'], record['rho_cutoff']) for element, record in records.items()}
    table = load_table()
    description = (
        f'{table["name"]} {kind.upper()} pseudopotentials generated offline with ld1.x by aiida-hydrides; '
        f'cutoffs (Ry) follow the high-pressure rule of docs/pseudopotentials.md (stringencies '
        f'{", ".join(STRINGENCIES)}; default {DEFAULT_STRINGENCY}).'
    )
    with tempfile.TemporaryDirectory(prefix='hydrides-family-') as folder:
        for record in records.values():
            shutil.copyfile(cache_dir / UPF_FOLDER / record['filename'], pathlib.Path(folder) / record['filename'])
        try:
            # one transaction: the family appears complete (pseudos and cutoffs) or not at all, with a single commit
            with get_manager().get_profile_storage().transaction():
                family = CutoffsPseudoPotentialFamily.create_from_folder(
                    pathlib.Path(folder), label, description=description, pseudo_type=UpfData
                )
                for stringency in STRINGENCIES:
                    family.set_cutoffs(family_cutoffs(suggestions, stringency), stringency, unit='Ry')
                family.set_default_stringency(DEFAULT_STRINGENCY)
        except ValueError as exc:
            if 'already exists' not in str(exc):
                raise
            existing = get_pseudo_family(label)  # created meanwhile by another process
            check_family_covers(existing, wanted)
            return existing
    return family


def read_family_suggestions(family: PseudoPotentialFamily) -> dict:
    """ld1.x's suggested cutoffs (Ry) of each pseudopotential of a family, read from the UPF headers."""
    suggestions = {}
    for element, pseudo in family.pseudos.items():
        with pseudo.as_path() as path:
            header = read_upf_header(path)
        suggestions[element] = (header.get('wfc_cutoff'), header.get('rho_cutoff'))
    return suggestions
