"""Benchmark: PBE lattice parameters from the `hydrides.dft.enthalpy` work chain with the offline pslibrary family.

For each system the work chain relaxes the primitive cell (vc-relax at the given pressure, then a final SCF) with the
chosen protocol (default ``moderate``); the conventional cubic lattice parameter follows from the primitive volume
(bcc: a = (2V)^(1/3), fcc: a = (4V)^(1/3)). One result per system, ``benchmarks/results/dft_lattice_<system>.json``,
with the metric ``abs_deviation_percent_<system>`` = |a - a_ref| / a_ref x 100 and the target 1 %.

Usage: ``.venv/bin/python benchmarks/dft_lattice.py [--systems h3s,al,li,ca] [--protocol moderate] [--isolated]``.
Runs on the default AiiDA profile (``make setup`` creates it); ``--isolated`` uses a throw-away profile instead.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

#: system -> lattice, element(s), pressure (GPa), starting a (A), reference a (A) and its source
SYSTEMS = {
    'h3s': {
        'lattice': 'bcc',
        'formula': 'H3S',
        'pressure': 200.0,
        'start': 3.05,
        'reference': 2.99,
        'source': 'PBE, Im-3m H3S at 200 GPa: 2.98-3.00 A (Duan et al., Sci. Rep. 4, 6968 (2014); Errea et al., '
        'PRL 114, 157004 (2015))',
    },
    'al': {
        'lattice': 'fcc',
        'formula': 'Al',
        'pressure': 0.0,
        'start': 4.10,
        'reference': 4.04,
        'source': 'PBE, fcc Al at 0 GPa: 4.04 A (Haas, Tran, Blaha, PRB 79, 085104 (2009))',
    },
    'li': {
        'lattice': 'bcc',
        'formula': 'Li',
        'pressure': 0.0,
        'start': 3.50,
        'reference': 3.44,
        'source': 'PBE, bcc Li at 0 GPa: 3.43-3.44 A (Haas, Tran, Blaha, PRB 79, 085104 (2009))',
    },
    'ca': {
        'lattice': 'fcc',
        'formula': 'Ca',
        'pressure': 0.0,
        'start': 5.60,
        'reference': 5.53,
        'source': 'PBE, fcc Ca at 0 GPa: 5.53 A (Haas, Tran, Blaha, PRB 79, 085104 (2009))',
    },
}
#: number of lattice points per conventional cubic cell
LATTICE_POINTS = {'bcc': 2, 'fcc': 4}


def build_structure(system: str):
    """The primitive cell of ``system`` at its starting lattice parameter, as ``StructureData``."""
    from aiida import orm
    from ase.build import bulk

    from aiida_hydrides.core.prototypes import h3s_primitive

    spec = SYSTEMS[system]
    if system == 'h3s':
        return orm.StructureData(ase=h3s_primitive('S', a=spec['start']))
    return orm.StructureData(ase=bulk(spec['formula'], spec['lattice'], a=spec['start']))


def conventional_a(structure, lattice: str) -> float:
    """Conventional cubic lattice parameter from the volume of a primitive cell."""
    return (LATTICE_POINTS[lattice] * structure.get_cell_volume()) ** (1.0 / 3.0)


def scf_settings(node) -> dict:
    """k-point mesh, cutoffs and smearing of the final SCF pw.x calculation of a work chain."""
    from aiida import orm

    scf = node.base.links.get_outgoing(link_label_filter='scf').one().node
    calcs = [child for child in scf.called if isinstance(child, orm.CalcJobNode)]
    calc = calcs[-1]
    mesh, _ = calc.inputs.kpoints.get_kpoints_mesh()
    system = calc.inputs.parameters['SYSTEM']
    return {
        'kpoints_mesh': list(mesh),
        'ecutwfc_Ry': system['ecutwfc'],
        'ecutrho_Ry': system['ecutrho'],
        'smearing': system['smearing'],
        'degauss_Ry': system['degauss'],
    }


def run_system(system: str, code, family, protocol: str, mpiprocs: int) -> dict:
    """Relax ``system`` with the work chain and return the benchmark fields."""
    from aiida.engine import run_get_node

    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    spec = SYSTEMS[system]
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': mpiprocs}}
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(
        code,
        build_structure(system),
        pressure=spec['pressure'],
        protocol=protocol,
        options=options,
        pseudo_family=family.label,
    )
    start = time.perf_counter()
    _, node = run_get_node(builder)
    wall = time.perf_counter() - start
    if not node.is_finished_ok:
        message = f'[{node.exit_status}] {node.exit_message}'
        raise RuntimeError(f'{system}: DftEnthalpyWorkChain<{node.pk}> failed: {message}')
    a = conventional_a(node.outputs.relaxed_structure, spec['lattice'])
    deviation = 100.0 * abs(a - spec['reference']) / spec['reference']
    summary = node.outputs.output_parameters.get_dict()
    return {
        'metric': f'abs_deviation_percent_{system}',
        'value': round(deviation, 3),
        'unit': 'percent',
        'target': 1.0,
        'higher_is_better': False,
        'target_criterion': 'within 1 % of the PBE reference lattice parameter',
        'system': f'{spec["lattice"]} {spec["formula"]}',
        'lattice_parameter_A': round(a, 4),
        'reference_A': spec['reference'],
        'reference_source': spec['source'],
        'signed_deviation_percent': round(100.0 * (a - spec['reference']) / spec['reference'], 3),
        'starting_lattice_parameter_A': spec['start'],
        'pressure_GPa': spec['pressure'],
        'final_pressure_GPa': round(summary['final_pressure_GPa'], 3),
        'enthalpy_per_atom_eV': summary['enthalpy_per_atom_eV'],
        'protocol': protocol,
        'pseudo_family': family.label,
        'workchain': 'hydrides.dft.enthalpy (PwRelaxWorkChain vc-relax + final SCF)',
        'mpiprocs': mpiprocs,
        'wall_time_s': round(wall, 1),
        'load_average_1min_at_end': round(os.getloadavg()[0], 1),
        **scf_settings(node),
    }


def _isolated_profile(folder: str) -> None:
    """Create a throw-away profile without a broker in ``folder`` and make it the one AiiDA loads."""
    os.environ['AIIDA_PATH'] = folder
    verdi = pathlib.Path(sys.executable).parent / 'verdi'
    subprocess.run(
        [str(verdi), 'presto', '--profile-name', 'dft-lattice', '--no-broker', '--non-interactive'],
        check=True,
        capture_output=True,
        text=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--systems', default=','.join(SYSTEMS), help='comma-separated subset of: ' + ', '.join(SYSTEMS))
    parser.add_argument('--protocol', default='moderate', choices=('fast', 'moderate', 'precise'))
    parser.add_argument('--mpiprocs', type=int, default=2, help='MPI processes (and k-point pools) per pw.x run')
    parser.add_argument('--isolated', action='store_true', help='use a throw-away AiiDA profile in a temporary folder')
    args = parser.parse_args(argv)
    systems = [name.strip().lower() for name in args.systems.split(',') if name.strip()]
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        parser.error(f'unknown systems {unknown}; choose from {", ".join(SYSTEMS)}')

    with tempfile.TemporaryDirectory(prefix='dft-lattice-') as folder:
        if args.isolated:
            _isolated_profile(folder)
        from aiida import load_profile

        load_profile()
        from aiida_hydrides.codes import ensure_codes
        from aiida_hydrides.pseudos import ensure_pseudo_family

        code = ensure_codes('localhost', mpiprocs=args.mpiprocs, shorts=['pw'])['pw']
        family = ensure_pseudo_family()
        failures = []
        for system in systems:
            try:
                fields = run_system(system, code, family, args.protocol, args.mpiprocs)
            except RuntimeError as exception:
                failures.append(str(exception))
                print(exception, file=sys.stderr)
                continue
            path = write_result(f'dft_lattice_{system}', **fields)
            print(
                f'{system}: a = {fields["lattice_parameter_A"]:.4f} A (reference {fields["reference_A"]} A, '
                f'{fields["signed_deviation_percent"]:+.2f} %), P = {fields["final_pressure_GPa"]:.2f} GPa, '
                f'{fields["wall_time_s"]:.0f} s -> {path}'
            )
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
