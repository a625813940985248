"""Source structures of a concurrent-learning label round: the distinct low-enthalpy minima that structure searches
with the current seed model find, which the model has never seen labelled.

The seed model ranks some of its own search minima wrongly (CaH6: a Cmcm structure 28 meV/atom below Im-3m with the
model, 65 meV/atom above it with pw.x; Im-3m itself distorts to R-3m with the model). Labelling those minima with
DFT and training on them is one round of concurrent learning: the model learns where its searches go.

For every composition, learning searches (``--seeds`` of them, the recovery benchmark's settings) run with the given
model; their distinct minima (fingerprint deduplication across the seeds) within ``--window`` meV/atom of the
lowest are kept, lowest first, at most ``--per-composition``; the known structure relaxed with the model is added
when it is not among them. The structures go to an extended-XYZ file (``aiida-hydrides label extend --round 3``
reads it and adds rattled copies), with a JSON record of the command, the model and every structure.

Usage: python scripts/search_minima_sources.py [--model M.pth] [--out data/seed/sources/round3-search-minima.extxyz]
"""

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: composition, formula units per cell, known structure (prototype builder name and arguments)
DEFAULT_TARGETS = (('CaH6', 2), ('YH6', 2), ('CaYH12', 1), ('CaYH12', 2))


def known_structure(formula):
    from aiida_hydrides.core.prototypes import ordered_sodalite_abh12, sodalite_mh6

    return {
        'CaH6': lambda: sodalite_mh6('Ca'),
        'YH6': lambda: sodalite_mh6('Y'),
        'CaYH12': lambda: ordered_sodalite_abh12('Ca', 'Y'),
    }[formula]()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=str(ROOT / 'aiida_hydrides/models/seed/seed_se_e2_a.pth'))
    parser.add_argument('--out', default=str(ROOT / 'data/seed/sources/round3-search-minima.extxyz'))
    parser.add_argument(
        '--targets',
        default=','.join(f'{f}:{u}' for f, u in DEFAULT_TARGETS),
        help='formula:formula-units pairs, comma-separated',
    )
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--budget', type=int, default=48)
    parser.add_argument('--population', type=int, default=6)
    parser.add_argument('--window', type=float, default=80.0, help='meV/atom above the lowest minimum')
    parser.add_argument('--per-composition', type=int, default=5)
    parser.add_argument('--pressure', type=float, default=200.0)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()

    from aiida_hydrides.core.lam.threads import configure_threads

    configure_threads(args.threads)
    import ase.io

    from aiida_hydrides.core.descriptors import space_group
    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.lam.relax import relax_structures
    from aiida_hydrides.core.search import SearchSettings, run_search
    from aiida_hydrides.core.search.fingerprint import Deduplicator
    from aiida_hydrides.core.search.worker import file_md5

    evaluator = load_model(args.model, threads=args.threads, compress=True)
    sources, records, done, started = [], [], set(), time.time()
    for item in args.targets.split(','):
        formula, units = item.split(':')
        settings = SearchSettings(
            pressure_gpa=args.pressure,
            budget=args.budget,
            population=args.population,
            max_atoms=28,
            max_steps=200,
            use_prototypes=False,
            formula_units=(int(units),),
        )
        candidates = []
        for seed in range(args.seeds):
            result = run_search(formula, evaluator, settings, seed=seed)
            candidates += [
                (m.enthalpy_per_atom, m.atoms, f'search seed {seed}, relaxation {m.index + 1}')
                for m in result.minima(window_mev=args.window)
            ]
            print(
                f'{formula} ({units} f.u.) seed {seed}: best {result.best_enthalpy_per_atom:.4f} eV/atom, '
                f'{len(candidates)} minima so far',
                flush=True,
            )
        known = known_structure(formula)
        if formula not in done:  # the known structure once per formula, in its own cell
            relaxed = relax_structures([known], evaluator, **settings.relax_kwargs())[0]
            candidates.append((relaxed.enthalpy_per_atom, relaxed.atoms, 'known structure relaxed with the model'))
            done.add(formula)
        species = sorted(set(known.get_chemical_symbols()))
        dedup = Deduplicator(species, threshold=settings.dedup_threshold, enthalpy_tol=settings.dedup_enthalpy_tol)
        lowest = min(h for h, _, _ in candidates)
        kept = 0
        for enthalpy, atoms, origin in sorted(candidates, key=lambda c: c[0]):
            if kept >= args.per_composition and 'known' not in origin:
                continue
            if (enthalpy - lowest) * 1000 > args.window and 'known' not in origin:
                continue
            vector = dedup.fingerprint(atoms)
            if dedup.match(vector, enthalpy) is not None:
                continue
            dedup.add(vector, enthalpy)
            kept += 'known' not in origin
            number, symbol = space_group(atoms)
            group = f'{symbol} ({number})'
            atoms = atoms.copy()
            atoms.info = {
                'source': f'{formula}-{len(atoms)}at-{len(sources) + 1:02d}',
                'origin': origin,
                'model_enthalpy_per_atom': round(float(enthalpy), 6),
                'model_relative_mev': round((enthalpy - lowest) * 1000, 1),
                'space_group': str(group),
            }
            sources.append(atoms)
            records.append({**atoms.info, 'formula': formula, 'natoms': len(atoms)})
            print(
                f'  keep {atoms.info["source"]}: {group}, {atoms.info["model_relative_mev"]} meV/atom ({origin})',
                flush=True,
            )
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for atoms in sources:
        atoms.calc = None
    ase.io.write(out, sources, format='extxyz')
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    command = ' '.join(['python', str(pathlib.Path(sys.argv[0]).resolve().relative_to(ROOT)), *sys.argv[1:]])
    record = {
        'command': command,
        'model': pathlib.Path(args.model).name,
        'model_md5': file_md5(args.model),
        'settings': {k: v for k, v in vars(args).items() if k not in ('out', 'model')},
        'wall_s': round(time.time() - started, 1),
        'structures': records,
    }
    out.with_suffix('.json').write_text(json.dumps(record, indent=1) + '\n')
    print(f'{len(sources)} structures in {shown}')


if __name__ == '__main__':
    main()
