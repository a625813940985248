#!/usr/bin/env python
"""Derive the pslibrary parameter table ``aiida_hydrides/core/pseudo/pslibrary_1.0.0_pbe.json``.

Reads ``PP_list.md`` (the recommended pseudopotential of each element) and the ld1.x inputs in
``us_ps_{high,low}`` and ``paw_ps_{high,low}`` of a pslibrary 1.0.0 (PBE) copy, picks for every element and kind
(US, PAW) the recommended input, searching both the high and the low set, and stores its ld1.x parameters. With
``--verify`` every entry is generated once with ld1.x; entries that fail are moved to ``excluded`` and the ld1.x
suggestions (``z_valence``, ``wfc_cutoff``, ``rho_cutoff``) are recorded.

    python scripts/derive_pslibrary_table.py --pslibrary ../shared/reference/pslibrary --verify
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiida_hydrides.core.pseudo.generate import generate_pseudos  # noqa: E402
from aiida_hydrides.core.pseudo.ld1_input import format_ld1_input, parse_ld1_input  # noqa: E402

OUTPUT = ROOT / 'aiida_hydrides' / 'core' / 'pseudo' / 'pslibrary_1.0.0_pbe.json'
KINDS = {'us': 'rrkjus', 'paw': 'kjpaw'}
SETS = ('high', 'low')

#: recommendations that are replaced: element -> (suffix, version, reason)
OVERRIDES = {
    'Cs': (
        'spn',
        '1.0.0',
        'the recommended Cs.pbe-spnl fails in ld1.x 6.7 (z_valence -5, "error in KS equations"); '
        'the spn pseudopotential of the high set is used',
    ),
    'Ir': (
        'spn',
        '1.0.0',
        'the recommended Ir.pbe-n 0.2.3 is not in pslibrary 1.0.0 and Ir.pbe-n 1.0.0 has a ghost '
        '8 eV above the Fermi level; the spn pseudopotential is used',
    ),
}
#: elements left out: element -> reason
EXCLUDED = {
    'Tc': 'the recommended Tc.pbe-spn 0.3.0 is not in pslibrary 1.0.0 and Tc.pbe-spn 1.0.0 does not work with PBE',
}
_RECOMMENDATION = re.compile(r'^(\w{1,2}):\s+\1\.\$fct-(?:([a-z]+)-)?\*_psl\.([\d.]+)\s*$')


def read_recommendations(pp_list: pathlib.Path) -> dict[str, tuple[str, str]]:
    """``{element: (suffix, version)}`` from the code block of PP_list.md (suffix '' for e.g. ``H.$fct-*``)."""
    recommendations = {}
    for line in pp_list.read_text().splitlines():
        match = _RECOMMENDATION.match(line.strip())
        if match:
            recommendations[match.group(1)] = (match.group(2) or '', match.group(3))
    return recommendations


def stem(element: str, suffix: str, kind: str, version: str) -> str:
    middle = f'{suffix}-' if suffix else ''
    return f'{element}.pbe-{middle}{KINDS[kind]}_psl.{version}'


def locate(root: pathlib.Path, name: str, kind: str) -> pathlib.Path | None:
    for which in SETS:
        path = root / f'{kind}_ps_{which}' / f'{name}.in'
        if path.is_file():
            return path
    return None


def choose(root: pathlib.Path, element: str, recommendation: tuple[str, str], kind: str):
    """Return ``(path, note)`` of the input to use, or ``(None, reason)``."""
    if element in EXCLUDED:
        return None, EXCLUDED[element]
    if element in OVERRIDES:
        suffix, version, note = OVERRIDES[element]
        path = locate(root, stem(element, suffix, kind, version), kind)
        return (path, note) if path else (None, f'override {suffix} {version} has no input')
    suffix, version = recommendation
    path = locate(root, stem(element, suffix, kind, version), kind)
    if path:
        return path, 'recommended in PP_list'
    if version != '1.0.0':
        path = locate(root, stem(element, suffix, kind, '1.0.0'), kind)
        if path:
            return path, f'PP_list recommends version {version}, which has no input in pslibrary 1.0.0; 1.0.0 is used'
    return None, f'no {kind.upper()} input for the recommended {stem(element, suffix, kind, version)}'


def make_entry(path: pathlib.Path, root: pathlib.Path, note: str) -> dict:
    text = path.read_text()
    parsed = parse_ld1_input(text)
    if parse_ld1_input(format_ld1_input(parsed)) != parsed:
        raise RuntimeError(f'{path}: the parameters do not survive a write/read round trip')
    return {
        'name': path.name[: -len('.in')],
        'source': str(path.relative_to(root)),
        'choice': note,
        **parsed,
    }


def verify(table: dict, workers: int = 4) -> None:
    """Generate every entry once; record ld1.x's suggestions and move failures to ``excluded``."""
    for kind in KINDS:
        elements = sorted(element for element, entries in table['elements'].items() if kind in entries)
        with tempfile.TemporaryDirectory() as destination:
            outcome = generate_pseudos(elements, destination, kind, table=table, workers=workers)
        for element, result in sorted(outcome.results.items()):
            if result.ok:
                table['elements'][element][kind]['ld1'] = {
                    'z_valence': result.z_valence,
                    'wfc_cutoff': round(result.wfc_cutoff, 2),
                    'rho_cutoff': round(result.rho_cutoff, 2),
                }
                print(
                    f'{element:2s} {kind:3s} ok  Z={result.z_valence:4.1f} '
                    f'{result.wfc_cutoff:6.1f}/{result.rho_cutoff:6.1f} Ry  {result.seconds:4.1f} s',
                    flush=True,
                )
            else:
                del table['elements'][element][kind]
                table['excluded'].setdefault(element, {})[kind] = f'ld1.x generation fails: {result.reason}'
                print(f'{element:2s} {kind:3s} FAILED {result.reason}', flush=True)
    for element in [element for element, entries in table['elements'].items() if not entries]:
        del table['elements'][element]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--pslibrary',
        type=pathlib.Path,
        default=ROOT.parent / 'shared' / 'reference' / 'pslibrary',
        help='pslibrary folder with PP_list.md and {us,paw}_ps_{high,low}/',
    )
    parser.add_argument('--output', type=pathlib.Path, default=OUTPUT, help='table to write')
    parser.add_argument('--verify', action='store_true', help='generate every entry with ld1.x and drop failures')
    args = parser.parse_args(argv)

    root = args.pslibrary.resolve()
    recommendations = read_recommendations(root / 'PP_list.md')
    if not recommendations:
        parser.error(f'no recommendations found in {root / "PP_list.md"}')
    table = {
        'name': 'pslibrary-1.0.0-PBE',
        'library': 'pslibrary',
        'version': '1.0.0',
        'functional': 'PBE',
        'relativistic': 'scalar',
        'license': 'GPL-2.0 (pslibrary by A. Dal Corso; the parameters are derived from its inputs)',
        'description': 'ld1.x parameters of the pslibrary 1.0.0 pseudopotentials recommended in PP_list.md; '
        'both the high and the low set are searched; see "choice" and "excluded".',
        'elements': {},
        'excluded': {},
    }
    for element, recommendation in recommendations.items():
        for kind in KINDS:
            path, note = choose(root, element, recommendation, kind)
            if path is None:
                table['excluded'].setdefault(element, {})[kind] = note
            else:
                table['elements'].setdefault(element, {})[kind] = make_entry(path, root, note)
    if args.verify:
        verify(table)
    args.output.write_text(json.dumps(table, indent=1) + '\n')
    count = {kind: sum(kind in entries for entries in table['elements'].values()) for kind in KINDS}
    print(f'wrote {args.output}: {count["us"]} US and {count["paw"]} PAW entries; excluded: {table["excluded"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
