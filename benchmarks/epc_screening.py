"""Benchmark: the ``screening`` EPC protocol against ``moderate`` on the check structures of the protocol.

For every check structure, ``hydrides.epc`` runs with both protocols on the same structure and the script writes
``benchmarks/results/epc_screening_<name>.json``:

* ``value``: the largest relative error of ``screening`` against ``moderate`` over λ, ω_log and the Allen-Dynes Tc
  at μ* 0.10 and 0.13 (target 0.10, each);
* ``wall_time_ratio``: wall time of the ``screening`` work chain over that of ``moderate`` (target 0.25); the CPU
  times that pw.x, ph.x, q2r.x and matdyn.x print themselves are summed per protocol beside them
  (``cpu_time_ratio``), since a machine shared with other jobs stretches wall times but hardly CPU times.

Check structures: Im-3m H3S at 200 GPa (the cell of ``epc_h3s.py``), Im-3m CaH6 at 150 and 200 GPa and Pm-3m CaYH12
at 200 GPa, the last three relaxed first with ``hydrides.dft.enthalpy`` (``moderate``) at their pressure.

The runs are long (a ``moderate`` CaH6 takes hours on 2 cores), so the script is resumable: every work chain it
starts carries the extra ``hydrides_benchmark`` = ``epc_screening/<name>/<step>``, and a later call reuses the
finished ones of the profile instead of running them again. Run one structure at a time:
``nice -n 10 .venv/bin/python benchmarks/epc_screening.py h3s-200 [--protocols screening moderate]``.
"""

import argparse
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(1, str(pathlib.Path(__file__).resolve().parent.parent))  # the package, also when not installed
from epc_h3s import h3s_structure, settings_of, step_times  # noqa: E402

from aiida_hydrides.timing import qe_cpu_seconds  # noqa: E402

from _common import RESULTS_DIR, write_result  # noqa: E402

BENCHMARK_EXTRA = 'hydrides_benchmark'
TARGET_ERROR = 0.10
TARGET_TIME_RATIO = 0.25
MUSTARS = ('0_10', '0_13')
#: name -> (description, pressure in GPa, structure factory or None for a fixed cell)
CHECKS = {
    'h3s-200': ('Im-3m H3S, 200 GPa, a = 2.985 A (bcc primitive, 4 atoms), fixed cell', 200.0),
    'cah6-150': ('Im-3m CaH6, 150 GPa (bcc primitive, 7 atoms), relaxed with moderate', 150.0),
    'cah6-200': ('Im-3m CaH6, 200 GPa (bcc primitive, 7 atoms), relaxed with moderate', 200.0),
    'cayh12-200': ('Pm-3m CaYH12, 200 GPa (ordered sodalite, 14 atoms), relaxed with moderate', 200.0),
}
#: the Tc dataset's entry of each check: with --from-dataset the two EPC work chains are those of the entry's row and
#: of its reference row (`aiida-hydrides dataset run NAME` and `... --protocol moderate`), on the same relaxed cell
DATASET_ENTRY = {
    'h3s-200': 'H3S-MH3-Im-3m-200GPa',
    'cah6-150': 'CaH6-MH6-Im-3m-150GPa',
    'cah6-200': 'CaH6-MH6-Im-3m-200GPa',
    'cayh12-200': 'CaYH12-ABH12-Pm-3m-200GPa',
}
#: the quantities compared, as keys of the `tc` output
COMPARED = ('lambda', 'omega_log_K') + tuple(f'tc_allen_dynes_K_mu{mu}' for mu in MUSTARS)


def _find(key: str):
    """The finished-ok process of the profile that carries the benchmark extra ``key``, or None."""
    from aiida import orm

    query = orm.QueryBuilder().append(
        orm.WorkChainNode, filters={f'extras.{BENCHMARK_EXTRA}': key}, tag='node', project='*'
    )
    nodes = [node for (node,) in query.all() if node.is_finished_ok]
    return max(nodes, key=lambda node: node.ctime) if nodes else None


def _run_tagged(builder, key: str):
    """Run ``builder`` in this interpreter (Ctrl-C stops it and its QE runs), tag the node with ``key``, return it."""
    from aiida_hydrides.processes import run_interruptible

    node = run_interruptible(builder)
    node.base.extras.set(BENCHMARK_EXTRA, key)
    return node


def _codes(mpiprocs: int):
    from aiida_hydrides.codes import ensure_codes

    return ensure_codes('localhost', mpiprocs=mpiprocs, shorts=['pw', 'ph', 'q2r', 'matdyn', 'projwfc'])


def check_structure(name: str, mpiprocs: int):
    """The structure of check ``name`` (relaxed with the ``moderate`` DFT protocol where it is not a fixed cell)."""
    from aiida import orm

    from aiida_hydrides.core.prototypes import ordered_sodalite_abh12, sodalite_mh6_primitive
    from aiida_hydrides.pseudos import ensure_pseudo_family
    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    if name == 'h3s-200':
        return h3s_structure(), None
    key = f'epc_screening/{name}/relax'
    node = _find(key)
    if node is None:
        pressure = CHECKS[name][1]
        atoms = (
            sodalite_mh6_primitive('Ca', 3.55 if pressure < 175 else 3.45)
            if name.startswith('cah6')
            else (ordered_sodalite_abh12('Ca', 'Y', 3.45))
        )
        family = ensure_pseudo_family()
        options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': mpiprocs}}
        builder = DftEnthalpyWorkChain.get_builder_from_protocol(
            _codes(mpiprocs)['pw'],
            orm.StructureData(ase=atoms),
            pressure=pressure,
            protocol='moderate',
            options=options,
            pseudo_family=family.label,
        )
        print(f'{name}: relaxing with hydrides.dft.enthalpy (moderate) at {pressure} GPa', flush=True)
        node = _run_tagged(builder, key)
        if not node.is_finished_ok:
            raise SystemExit(f'{name}: the relaxation failed [{node.exit_status}] {node.exit_message}')
    return node.outputs.relaxed_structure, node


def run_epc(name: str, protocol: str, structure, mpiprocs: int, overrides: dict | None = None, key: str = ''):
    """The finished ``hydrides.epc`` of check ``name`` with ``protocol`` (and ``overrides``, a candidate tagged
    ``key``): found in the profile or run now."""
    from aiida_hydrides.pseudos import ensure_pseudo_family
    from aiida_hydrides.workflows.epc.base import ElectronPhononWorkChain

    key = key or f'epc_screening/{name}/{protocol}'
    node = _find(key)
    family = ensure_pseudo_family()
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': mpiprocs}}
    builder = ElectronPhononWorkChain.get_builder_from_protocol(
        _codes(mpiprocs),
        structure,
        protocol=protocol,
        overrides=overrides,
        options=options,
        pseudo_family=family,
        npool=mpiprocs,
    )
    settings = settings_of(builder)
    if node is None:
        print(f'{key}: {settings}', flush=True)
        start = time.perf_counter()
        node = _run_tagged(builder, key)
        print(f'{key}: exit {node.exit_status} after {time.perf_counter() - start:.0f} s', flush=True)
    else:
        print(f'{key}: reusing work chain {node.pk}', flush=True)
    return node, settings


def summary(node, settings: dict) -> dict:
    """What the comparison needs from one EPC work chain."""
    fields = {
        'workchain_uuid': node.uuid,
        'exit_status': node.exit_status,
        # from the work chain's start to the end of its last step (tagging the node later changes its own mtime)
        'wall_time_s': round((max(d.mtime for d in node.called_descendants) - node.ctime).total_seconds(), 1),
        'qe_cpu_time_s': qe_cpu_seconds(node),
        'step_wall_times_s': step_times(node),
        **settings,
    }
    if 'phonon_stability' in node.outputs:
        fields['min_phonon_frequency_cm'] = node.outputs.phonon_stability.get_dict()['min_frequency_cm']
    if node.is_finished_ok:
        tc = node.outputs.tc.get_dict()
        for key in COMPARED + ('omega_2_K', 'lambda_qsum', 'el_ph_sigma_ry', 'sigma_plateau_found'):
            fields[key] = tc.get(key)
        fields['tc_eliashberg_K'] = {mu: tc.get(f'tc_eliashberg_K_mu{mu}') for mu in MUSTARS}
    else:
        fields['exit_message'] = node.exit_message
    return fields


def recorded_moderate(path: pathlib.Path) -> dict:
    """The ``moderate`` summary from a committed ``epc_h3s.json`` (wall time of a run on free cores: no CPU time)."""
    import json

    recorded = json.loads(path.read_text())
    if recorded.get('protocol') != 'moderate' or recorded.get('status') != 'finished':
        raise SystemExit(f'{path} is not a finished moderate run')
    fields = {key: recorded.get(key) for key in ('lambda', 'omega_log_K', 'omega_2_K', 'lambda_qsum')}
    fields.update({key: recorded['tc_K'].get(key) for key in COMPARED if key.startswith('tc_')})
    fields.update(
        {
            'source': f'{path.name} ({recorded.get("command")}), the same structure and settings',
            'exit_status': recorded.get('exit_status', 0),
            'wall_time_s': recorded['wall_time_s'],
            'qe_cpu_time_s': None,
            'el_ph_sigma_ry': recorded.get('el_ph_sigma_chosen_Ry'),
            'step_wall_times_s': recorded.get('step_wall_times_s'),
            **{key: recorded.get(key) for key in ('kpoints_coarse', 'kpoints_dense', 'qpoints', 'ecutwfc_Ry')},
        }
    )
    return fields


def candidates(name: str) -> list[dict]:
    """The other settings tried for check ``name`` (work chains tagged ``epc_screening/<name>/...candidate...``)."""
    from aiida import orm

    query = orm.QueryBuilder().append(
        orm.WorkChainNode, filters={f'extras.{BENCHMARK_EXTRA}': {'like': f'epc_screening/{name}/%candidate%'}}
    )
    found = []
    for (node,) in query.all():
        if not node.is_terminated:
            continue
        settings = {}
        for calc in node.called_descendants:
            if isinstance(calc, orm.CalcJobNode) and calc.process_type.endswith('pw') and 'parameters' in calc.inputs:
                system = calc.inputs.parameters.get_dict()['SYSTEM']
                settings = {'ecutwfc_Ry': system['ecutwfc'], 'degauss_Ry': system['degauss']}
        grids = {
            label: calc.inputs.kpoints.get_kpoints_mesh()[0]
            for calc in node.called
            for label in [calc.base.attributes.get('metadata_inputs', {}).get('metadata', {}).get('call_link_label')]
            if label in ('scf', 'scf_dense') and 'kpoints' in calc.inputs
        }
        for calc in node.called:
            if calc.process_label == 'PhBaseWorkChain' and 'qpoints' in calc.inputs:
                grids['q'] = calc.inputs.qpoints.get_kpoints_mesh()[0]
        tc = node.outputs.tc.get_dict() if node.is_finished_ok else {'exit_message': node.exit_message}
        found.append(
            {
                'key': node.base.extras.get(BENCHMARK_EXTRA),
                **settings,
                'grids': grids,
                'qe_cpu_time_s': qe_cpu_seconds(node),
                **{key: tc.get(key) for key in COMPARED + ('el_ph_sigma_ry', 'exit_message') if key in tc},
            }
        )
    return found


def candidate_overrides(settings: list[str]) -> dict:
    """Protocol overrides from ``KEY=VALUE`` strings: meta parameters (grids as ``3,3,3``), ``degauss`` of the scf."""
    meta, overrides = {}, {}
    for item in settings:
        key, _, value = item.partition('=')
        if not value:
            raise SystemExit(f'--set {item!r}: expected KEY=VALUE')
        if key == 'degauss':
            overrides['scf'] = {'pw': {'parameters': {'SYSTEM': {'degauss': float(value)}}}}
        elif key.endswith('_mesh'):
            meta[key] = [int(part) for part in value.split(',')]
        else:
            meta[key] = value if key == 'pseudo_stringency' else float(value)
    return {**overrides, 'meta_parameters': meta} if meta else overrides


def compare(name: str, results: dict) -> dict:
    """The benchmark fields of check ``name`` from the summaries of both protocols."""
    moderate, screening = results['moderate'], results['screening']
    fields = {
        'metric': f'epc_screening_{name.replace("-", "_")}gpa_max_relative_error',
        'unit': 'fraction',
        'target': TARGET_ERROR,
        'higher_is_better': False,
        'target_criterion': (
            'screening vs moderate: relative error <= 0.10 for each of lambda, omega_log and the Allen-Dynes Tc at '
            'mu* 0.10 and 0.13, at a wall-time ratio <= 0.25'
        ),
        'system': CHECKS[name][0],
        'pressure_gpa': CHECKS[name][1],
        'protocols': results,
    }
    if not (moderate['exit_status'] == 0 and screening['exit_status'] == 0):
        return {**fields, 'value': None, 'status': 'failed'}
    errors = {key: abs(screening[key] - moderate[key]) / abs(moderate[key]) for key in COMPARED}
    # with a recorded moderate run (free cores, no CPU time) the screening's CPU time stands in for its wall time
    own = screening['wall_time_s'] if moderate['qe_cpu_time_s'] else screening['qe_cpu_time_s']
    ratio = own / moderate['wall_time_s']
    cpu_ratio = screening['qe_cpu_time_s'] / moderate['qe_cpu_time_s'] if moderate['qe_cpu_time_s'] else None
    value = max(errors.values())
    return {
        **fields,
        'value': round(value, 4),
        'status': 'finished',
        'relative_errors': {key: round(error, 4) for key, error in errors.items()},
        'wall_time_ratio': round(ratio, 3),
        'wall_time_ratio_target': TARGET_TIME_RATIO,
        'cpu_time_ratio': round(cpu_ratio, 3) if cpu_ratio else None,
        'met': bool(value <= TARGET_ERROR and ratio <= TARGET_TIME_RATIO),
    }


def from_dataset(name: str) -> int:
    """Write the result of check ``name`` from the Tc dataset's rows of its entry (both protocols); the earlier result
    file's own runs are kept under ``earlier``."""
    import json

    from aiida_hydrides.tc_dataset import DEFAULT_PROTOCOL, REFERENCE_PROTOCOL, entry_epc

    entry = DATASET_ENTRY[name]
    results = {}
    for protocol in (DEFAULT_PROTOCOL, REFERENCE_PROTOCOL):
        node = entry_epc(entry, protocol)
        if node is None:
            option = '' if protocol == DEFAULT_PROTOCOL else f' --protocol {protocol}'
            print(f'{entry} has no {protocol} result in this profile: run `aiida-hydrides dataset run {entry}{option}`')
            return 1
        results[protocol] = summary(node, settings_of(node.inputs))
    fields = compare(name, results)
    fields['system'] = (
        f'{CHECKS[name][0].split(",")[0]}, {CHECKS[name][1]:g} GPa: Tc dataset entry {entry}, relaxed with moderate'
    )
    fields['source'] = 'the Tc dataset (data/tc_dataset): the screening row and its moderate reference row'
    fields['cpu_per_wall'] = {
        protocol: round(result['qe_cpu_time_s'] / result['wall_time_s'], 2)
        for protocol, result in results.items()
        if result.get('qe_cpu_time_s') and result.get('wall_time_s')
    }
    fields['time_note'] = (
        'QE CPU time (per MPI process) over wall time per protocol: near 0.9 on free cores, lower when the run shared '
        'its cores with other jobs; the CPU-time ratio is then the fair measure of the cost'
    )
    path = RESULTS_DIR / f'epc_screening_{name.replace("-", "_")}.json'
    if path.exists():
        earlier = json.loads(path.read_text())
        fields['earlier'] = earlier.get('earlier') or {
            key: earlier.get(key)
            for key in ('system', 'relative_errors', 'wall_time_ratio', 'cpu_time_ratio', 'protocols', 'candidates')
        }
    fields['candidates'] = candidates(name)
    path = write_result(f'epc_screening_{name.replace("-", "_")}', **fields)
    print(f'{path}: max relative error {fields["value"]}, CPU-time ratio {fields.get("cpu_time_ratio")}')
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('check', choices=sorted(CHECKS), help='the check structure')
    parser.add_argument('--protocols', nargs='+', default=['screening', 'moderate'], choices=('screening', 'moderate'))
    parser.add_argument('--mpiprocs', type=int, default=2, help='MPI processes (and k-point pools) per QE run')
    parser.add_argument(
        '--moderate-result',
        type=pathlib.Path,
        default=None,
        help='a committed result of benchmarks/epc_h3s.py (same structure, moderate protocol) to compare with when '
        'the profile has no moderate run of the check',
    )
    parser.add_argument(
        '--from-dataset',
        action='store_true',
        help="compare the Tc dataset's EPC work chains of the check's entry (screening row against its moderate "
        'reference row, same relaxed cell, same machine) instead of running the check structure',
    )
    parser.add_argument(
        '--try',
        dest='candidate',
        metavar='NAME',
        default=None,
        help='run a candidate instead of the protocols: the screening protocol with --set overrides, tagged '
        'epc_screening/<check>/candidate-NAME (listed under "candidates" of the result)',
    )
    parser.add_argument(
        '--set',
        dest='settings',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='meta parameters of the candidate (e.g. qpoints_mesh=3,3,3 kpoints_distance=0.45) or degauss=RY',
    )
    args = parser.parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from aiida import load_profile

    load_profile()
    if args.from_dataset:
        return from_dataset(args.check)
    structure, _ = check_structure(args.check, args.mpiprocs)
    if args.candidate:
        overrides = candidate_overrides(args.settings)
        key = f'epc_screening/{args.check}/candidate-{args.candidate}'
        node, settings = run_epc(args.check, 'screening', structure, args.mpiprocs, overrides, key)
        print(f'{key}: ' + ', '.join(f'{k}={v}' for k, v in summary(node, settings).items() if k != 'workchain_uuid'))
        return 0 if node.is_finished_ok else 1
    results = {}
    for protocol in args.protocols:
        if protocol == 'moderate' and args.moderate_result and _find(f'epc_screening/{args.check}/moderate') is None:
            results[protocol] = recorded_moderate(args.moderate_result)
            continue
        node, settings = run_epc(args.check, protocol, structure, args.mpiprocs)
        results[protocol] = summary(node, settings)
        print(f'{args.check} {protocol}: ' + ', '.join(f'{k}={results[protocol].get(k)}' for k in COMPARED), flush=True)
    if set(results) != {'screening', 'moderate'}:
        return 0
    fields = compare(args.check, results)
    fields['candidates'] = candidates(args.check)
    path = write_result(f'epc_screening_{args.check.replace("-", "_")}', **fields)
    print(
        f'{args.check}: max relative error {fields["value"]}, wall-time ratio {fields.get("wall_time_ratio")} -> {path}'
    )
    return 0 if fields['status'] == 'finished' else 1


if __name__ == '__main__':
    sys.exit(main())
