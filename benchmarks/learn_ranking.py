"""How a learned model ranks the minima of its own searches against DFT: relative enthalpies within each composition.

For a model of a concurrent-learning run (``--workchain PK``: its last ensemble's ``m0``; or ``--model FILE``), each
composition is searched at the pressure with the model (``run_search``, in this process), and the lowest distinct
minima (at most ``--minima`` per composition, within ``--window`` meV/atom of its best) get a pw.x single point at
the model's geometry with the DFT settings of the run's label set (``PwBaseWorkChain``, stored in the profile). The
DFT enthalpy per atom at the target pressure is ``(E + P V) / N`` at that geometry, the model's the same. Within each
composition both are taken relative to the structure that DFT puts lowest.

Reported (``results/<name>.json``): every structure with both values; the mean absolute error of the relative
enthalpies (``value``; target 15 meV/atom, the issue's figure for the Ca-Y-H model); the Spearman rank coefficient of
the relative enthalpies over all compositions (target 0.8) and per composition; the pairs the model orders the other
way round by more than 10 meV/atom; whether the model's lowest is DFT's lowest per composition; the pw.x wall hours.
By default pw.x single points at the model's geometries: a model whose geometries are off shows it as enthalpy
errors. With ``--relax`` every minimum is relaxed again with pw.x at the pressure (``hydrides.dft.enthalpy``,
``--dft-protocol``, the label set's pseudopotential family), as the issue's ranking figure asks, and the DFT enthalpies
are those of the relaxed structures. The relaxations are long (tens of minutes for a 14-atom Ca-Y-H cell on 2
cores), so the benchmark is resumable: each work chain is labelled ``<name>:<formula>-<rank>``, a finished one is
reused (the search is seeded, so a second run finds the same minima), and ``--archive FILE`` exports them
(``verdi archive import`` it elsewhere to go on). ``--min-volume-fraction 0`` switches the search's density floor off.

    python benchmarks/learn_ranking.py --workchain 1234 --compositions LiH6,MgH6,LiMgH6 --pressure 200
    python benchmarks/learn_ranking.py --model model.pth --compositions CaH6,YH6,CaYH12 --max-atoms 14 --relax \
        --min-volume-fraction 0 --name learn_ca_y_ranking --archive data/learn/ca-y/ranking.aiida
"""

import argparse
import itertools
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

from _common import write_result


def spearman(a, b) -> float | None:
    """Spearman's rank coefficient (average ranks for ties); ``None`` for fewer than 3 values."""
    from scipy.stats import spearmanr

    if len(a) < 3:
        return None
    value = spearmanr(a, b).statistic
    return None if not np.isfinite(value) else float(value)


def _relaxation(label: str, atoms, code, args, settings):
    """The finished ``hydrides.dft.enthalpy`` work chain labelled ``label`` (from an earlier run, or imported), else a
    new one run in this process."""
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    done = (
        orm.QueryBuilder()
        .append(DftEnthalpyWorkChain, filters={'label': label, 'attributes.exit_status': 0}, project='*')
        .first(flat=True)
    )
    if done is not None:
        print(f'{label}: reusing DftEnthalpyWorkChain<{done.pk}>')
        return done
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(
        code,
        orm.StructureData(ase=atoms),
        pressure=args.pressure,
        protocol=args.dft_protocol,
        pseudo_family=settings['dft']['pseudo_family'],
    )
    builder.metadata.label = label
    _, node = run_get_node(builder)
    print(f'{label}: DftEnthalpyWorkChain<{node.pk}> exit status {node.exit_status}')
    return node


def _pw_wall_seconds(workchain) -> float:
    """Wall seconds of every pw.x calculation below ``workchain``."""
    from aiida import orm

    total = 0.0
    for node in workchain.called_descendants:
        if isinstance(node, orm.CalcJobNode) and 'output_parameters' in node.outputs:
            total += float(node.outputs.output_parameters.get('wall_time_seconds', 0.0) or 0.0)
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--workchain', type=int, help='a hydrides.lam.concurrent run: its last ensemble member m0')
    source.add_argument('--model', help='a frozen DeePMD model file')
    parser.add_argument('--compositions', required=True, help='comma-separated formulas')
    parser.add_argument('--pressure', type=float, default=200.0)
    parser.add_argument('--budget', type=int, default=24, help='relaxations per composition')
    parser.add_argument('--max-atoms', type=int, default=8)
    parser.add_argument('--minima', type=int, default=4, help='lowest distinct minima per composition')
    parser.add_argument('--window', type=float, default=300.0, help='meV/atom above the best')
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--name', default=None, help='result file name (default: learn_<system>_ranking)')
    parser.add_argument('--relax', action='store_true', help='relax every minimum with pw.x instead of a single point')
    parser.add_argument('--dft-protocol', default='fast', help='protocol of hydrides.dft.enthalpy with --relax')
    parser.add_argument(
        '--min-volume-fraction',
        type=float,
        default=None,
        help="the search's density floor (0: none; default: the search's own)",
    )
    parser.add_argument('--archive', default=None, help='export the DFT work chains to this AiiDA archive')
    args = parser.parse_args(argv)

    from aiida import load_profile, orm
    from aiida.engine import run_get_node

    load_profile()
    from aiida_hydrides.codes import ensure_codes
    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.search.engine import SearchSettings, run_search
    from aiida_hydrides.core.units import gpa_to_ev_per_a3
    from aiida_hydrides.labelling import frame_from_calculation
    from aiida_hydrides.pseudos import get_pseudo_family
    from aiida_hydrides.workflows.lam.labels import (
        get_label_workchain_builder,
        label_calculation,
        load_loop_label_settings,
    )

    settings = load_loop_label_settings()
    system = None
    if args.workchain is not None:
        run = orm.load_node(args.workchain)
        node = run.outputs.ensemble.m0
        settings = run.inputs.label.settings.get_dict()
        system = run.inputs.system.value
        folder = pathlib.Path(tempfile.mkdtemp())
        model_path = folder / node.filename
        model_path.write_bytes(node.base.repository.get_object_content(node.filename, mode='rb'))
        model_name = f'ConcurrentLearningWorkChain<{run.pk}> ensemble m0 <{node.pk}>'
    else:
        model_path = pathlib.Path(args.model)
        model_name = str(model_path)
    evaluator = load_model(model_path, threads=1)
    formulas = [item.strip() for item in args.compositions.split(',') if item.strip()]
    code = ensure_codes('localhost', mpiprocs=None, shorts=['pw'])['pw']
    family = get_pseudo_family(settings['dft']['pseudo_family'])
    pressure_ev = gpa_to_ev_per_a3(args.pressure)

    name = args.name or f'learn_{(system or "model").lower().replace("-", "_")}_ranking'
    structures, pw_wall, dft_nodes = [], 0.0, []
    start = time.monotonic()
    for formula in formulas:
        floor = {} if args.min_volume_fraction is None else {'min_volume_fraction': args.min_volume_fraction}
        search = SearchSettings(
            budget=args.budget, population=min(args.budget, 8), max_atoms=args.max_atoms, seed=args.seed, **floor
        )
        result = run_search(formula, evaluator, search, pressure_gpa=args.pressure)
        minima = result.minima(window_mev=args.window)[: args.minima]
        print(f'{formula}: {len(result)} relaxations, {len(minima)} minima kept')
        for rank, minimum in enumerate(minima):
            atoms = minimum.atoms
            model = evaluator.evaluate([atoms], args.pressure)[0]
            frame_id = f'rank-{formula}-{args.pressure:g}-{rank}'
            entry = {
                'formula': formula,
                'natoms': len(atoms),
                'space_group': minimum.space_group_symbol,
                'model_rank': rank,
                'model_enthalpy_per_atom_ev': model.enthalpy_per_atom,
                'model_pressure_gpa': model.pressure_gpa,
                'model_volume_per_atom': atoms.get_volume() / len(atoms),
            }
            if args.relax:
                relaxation = _relaxation(f'{name}:{formula}-{rank}', atoms, code, args, settings)
                dft_nodes.append(relaxation)
                entry['dft_workchain'] = relaxation.uuid
                if not relaxation.is_finished_ok:
                    entry['dft_failed'] = relaxation.exit_message or f'exit status {relaxation.exit_status}'
                else:
                    pw_wall += _pw_wall_seconds(relaxation)
                    relaxed = relaxation.outputs.relaxed_structure
                    entry['dft_enthalpy_per_atom_ev'] = relaxation.outputs.enthalpy_per_atom.value
                    entry['dft_pressure_gpa'] = relaxation.outputs.pressure.value
                    entry['dft_volume_per_atom'] = relaxed.get_cell_volume() / len(relaxed.sites)
                structures.append(entry)
                continue
            builder = get_label_workchain_builder(atoms, code, family, frame_id, settings)
            _, label = run_get_node(builder)
            entry['label_workchain'] = label.pk
            if not label.is_finished_ok:
                entry['dft_failed'] = label.exit_message
                structures.append(entry)
                continue
            calculation = label_calculation(label)
            pw_wall += float(calculation.outputs.output_parameters.get('wall_time_seconds', 0.0) or 0.0)
            frame = frame_from_calculation(calculation, frame_id)
            volume = abs(np.linalg.det(frame.cell))
            entry['dft_enthalpy_per_atom_ev'] = (frame.energy + pressure_ev * volume) / len(atoms)
            entry['dft_pressure_gpa'] = float(frame.pressure)
            structures.append(entry)

    per_formula, pooled_model, pooled_dft, inversions, errors = {}, [], [], [], []
    for formula in formulas:
        done = [s for s in structures if s['formula'] == formula and 'dft_enthalpy_per_atom_ev' in s]
        if len(done) < 2:
            per_formula[formula] = {'structures': len(done)}
            continue
        reference = min(done, key=lambda s: s['dft_enthalpy_per_atom_ev'])
        for s in done:
            s['dft_relative_mev'] = 1000 * (s['dft_enthalpy_per_atom_ev'] - reference['dft_enthalpy_per_atom_ev'])
            s['model_relative_mev'] = 1000 * (s['model_enthalpy_per_atom_ev'] - reference['model_enthalpy_per_atom_ev'])
        others = [s for s in done if s is not reference]
        errors.extend(abs(s['model_relative_mev'] - s['dft_relative_mev']) for s in others)
        pooled_model.extend(s['model_relative_mev'] for s in done)
        pooled_dft.extend(s['dft_relative_mev'] for s in done)
        for a, b in itertools.combinations(done, 2):
            dft = b['dft_relative_mev'] - a['dft_relative_mev']
            model = b['model_relative_mev'] - a['model_relative_mev']
            if dft * model < 0 and max(abs(dft), abs(model)) > 10:
                inversions.append({'formula': formula, 'pair': [a['model_rank'], b['model_rank']], 'dft_mev': dft})
        model_lowest = min(done, key=lambda s: s['model_enthalpy_per_atom_ev'])
        per_formula[formula] = {
            'structures': len(done),
            'mae_mev': statistics.fmean(abs(s['model_relative_mev'] - s['dft_relative_mev']) for s in others),
            'spearman': spearman([s['model_relative_mev'] for s in done], [s['dft_relative_mev'] for s in done]),
            'model_lowest_is_dft_lowest': model_lowest is reference,
        }
    mae = statistics.fmean(errors) if errors else None
    if args.archive and dft_nodes:
        from aiida.tools.archive import create_archive

        create_archive(dft_nodes, filename=args.archive, overwrite=True)
        print(f'wrote {args.archive}')
    how = 'pw.x relaxations' if args.relax else 'pw.x single points'
    path = write_result(
        name,
        metric=f"MAE of the relative enthalpies of the model's search minima against {how}, within each composition",
        value=mae,
        unit='meV/atom',
        target=15.0,
        higher_is_better=False,
        spearman=spearman(pooled_model, pooled_dft),
        spearman_target=0.8,
        per_formula=per_formula,
        inversions=inversions,
        structures=structures,
        model=model_name,
        system=system,
        pressure_gpa=args.pressure,
        label_set=settings['label_set'],
        settings={key: value for key, value in vars(args).items() if key not in ('workchain', 'model')},
        pw_wall_hours=pw_wall / 3600,
        wall_hours=(time.monotonic() - start) / 3600,
        dft_protocol=args.dft_protocol if args.relax else None,
        archive=args.archive,
        note=(
            f'every model minimum relaxed again with pw.x at the pressure (hydrides.dft.enthalpy, {args.dft_protocol} '
            "protocol, the label set's family)"
            if args.relax
            else "pw.x single points at the model's relaxed geometries (not DFT relaxations), the run's label-set "
            'settings'
        )
        + '; relative to the structure DFT puts lowest in each composition',
    )
    print(f'MAE {mae} meV/atom; wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
