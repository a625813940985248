"""``aiida-hydrides demo``: the end-to-end demonstration run on the default AiiDA profile."""
import pathlib
import time

import click

from aiida_hydrides.cli.utils import fail, load_profile

DEMO_GROUP = 'hydrides/demo'
AL_UPF = pathlib.Path('/usr/share/espresso/pseudo/Al.pz-vbc.UPF')


def _title(text: str):
    click.secho(f'\n== {text}', fg='cyan', bold=True)


def _show_compositions(system: str):
    from aiida_hydrides.core.compositions import count_compositions, enumerate_compositions, reference_compositions

    comps = enumerate_compositions(system)
    refs = reference_compositions(system)
    click.echo(f'{len(comps)} compositions A_mB_nH_x ({count_compositions(system, distinct=True)} distinct reduced '
               f'formulas), e.g. {", ".join(c.formula for c in comps[:4])}, ..., {comps[-1].formula}')
    click.echo(f'hull references: {len(refs.elements)} elements, {len(refs.hydrides)} binary hydrides, '
               f'{len(refs.alloys)} alloys')


def _show_prototypes():
    from aiida_hydrides.core.descriptors import describe
    from aiida_hydrides.core.prototypes import build_prototype

    cases = [('CaH6', ('Ca',)), ('CaH6', ('Y',)), ('CaYH12', ('Ca', 'Y')), ('H3S', ('S',)), ('LaH10', ('La',))]
    click.echo(f'{"formula":<10} {"space group":<14} {"atomic-H":>9} {"d_HH/Å":>7}  passes sg>75 and atomic-H>0.75')
    for name, elements in cases:
        info = describe(build_prototype(name, *elements))
        passes = info['space_group_number'] > 75 and (info['atomic_h_fraction'] or 0) > 0.75
        click.echo(f'{info["reduced_formula"]:<10} {info["space_group_symbol"] + " (" + str(info["space_group_number"]) + ")":<14} '
                   f'{info["atomic_h_fraction"]:>9.2f} {info["shortest_hh_distance"]:>7.3f}  {"yes" if passes else "no"}')


def _group():
    from aiida import orm

    group, _ = orm.Group.collection.get_or_create(DEMO_GROUP)
    return group


def _run_dft_enthalpy(codes, pressure: float, protocol: str):
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_hydrides.core.prototypes import build_prototype
    from aiida_hydrides.workflows.dft_enthalpy import DftEnthalpyWorkChain

    structure = orm.StructureData(ase=build_prototype('H3S-primitive', 'S', 3.05))
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(codes['pw'], structure, pressure=pressure,
                                                             protocol=protocol)
    start = time.time()
    results, node = run_get_node(builder)
    _group().add_nodes(node)
    if not node.is_finished_ok:
        fail(f'DftEnthalpyWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')
    relaxed = results['relaxed_structure']
    a_conv = (2 * relaxed.get_cell_volume()) ** (1 / 3)
    click.echo(f'H3S (Im-3m) at {pressure:g} GPa, protocol {protocol}: a = {a_conv:.3f} Å (published PBE 2.98-3.00), '
               f'P = {results["pressure"].value:.1f} GPa, H = {results["enthalpy_per_atom"].value:.4f} eV/atom  '
               f'[WorkChain<{node.pk}>, {time.time() - start:.0f} s]')


def _run_epc(codes):
    from aiida import orm
    from aiida.engine import run_get_node
    from aiida_pseudo.data.pseudo import UpfData

    from aiida_hydrides.core.prototypes import build_prototype
    from aiida_hydrides.workflows.epc import ElectronPhononWorkChain

    structure = orm.StructureData(ase=build_prototype('fcc', 'Al', 3.97))
    overrides = {
        'meta_parameters': {'kpoints_mesh': [8, 8, 8], 'kpoints_dense_mesh': [16, 16, 16], 'qpoints_mesh': [4, 4, 4],
                            'matdyn_kpoints_mesh': [16, 16, 16]},
        'scf': {'pw': {'parameters': {'SYSTEM': {'degauss': 0.05}}}},
    }
    builder = ElectronPhononWorkChain.get_builder_from_protocol(
        codes, structure, protocol='fast', overrides=overrides, pseudos={'Al': UpfData.get_or_create(AL_UPF)},
        cutoffs=(15, 60))
    start = time.time()
    results, node = run_get_node(builder)
    _group().add_nodes(node)
    if not node.is_finished_ok:
        fail(f'ElectronPhononWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')
    tc = results['tc'].get_dict()
    click.echo(f'fcc Al (PHonon example03 settings): lambda = {tc["lambda"]:.3f} (QE q-sum {tc["lambda_qsum"]:.3f}), '
               f'omega_log = {tc["omega_log_K"]:.0f} K, Tc(Allen-Dynes, mu*=0.10) = {tc["tc_allen_dynes_K_mu0_10"]:.2f} K, '
               f'Tc(Eliashberg, mu*=0.10) = {tc.get("tc_eliashberg_K_mu0_10", float("nan")):.2f} K  '
               f'[WorkChain<{node.pk}>, {time.time() - start:.0f} s]')


def _query_results():
    from aiida import orm

    qb = orm.QueryBuilder()
    qb.append(orm.Group, filters={'label': DEMO_GROUP}, tag='group')
    qb.append(orm.WorkChainNode, with_group='group', project=['id', 'process_type', 'attributes.exit_status'])
    click.echo(f'{qb.count()} workflows in group {DEMO_GROUP!r}:')
    for pk, process_type, status in qb.iterall():
        click.echo(f'  <{pk}> {process_type}  exit status {status}')
    qb = orm.QueryBuilder()
    qb.append(orm.StructureData, filters={'extras.hydrides.pressure_gpa': {'>=': 100}},
              project=['id', 'extras.hydrides.formula', 'extras.hydrides.enthalpy_per_atom_ev'])
    click.echo('relaxed structures with extras hydrides.pressure_gpa >= 100 (QueryBuilder):')
    for pk, formula, enthalpy in qb.iterall():
        click.echo(f'  <{pk}> {formula}: H = {enthalpy:.4f} eV/atom')


@click.command('demo')
@click.option('--system', default='Ca-Y', show_default=True, help='Chemical system A-B of the composition step.')
@click.option('--pressure', default=200.0, show_default=True, type=float, help='Target pressure of the DFT step, GPa.')
@click.option('--protocol', default='fast', show_default=True, type=click.Choice(['fast', 'moderate', 'precise']),
              help='Protocol of the DFT enthalpy step.')
@click.option('--skip-qe', is_flag=True, help='Only the pure-Python steps (no Quantum ESPRESSO runs).')
def demo(system, pressure, protocol, skip_qe):
    """Run the end-to-end demonstration on the default AiiDA profile.

    Compositions of a system, hydride descriptors of known prototypes, a real DFT enthalpy at pressure (pw.x), a real
    electron-phonon chain with Tc (pw.x, ph.x, q2r.x, matdyn.x), and a QueryBuilder query over what was stored.
    """
    _title(f'1. Composition space of {system}-H')
    _show_compositions(system)
    _title('2. Hydride descriptors of known prototypes (filter cascade: space group > 75, atomic-H > 75 %)')
    _show_prototypes()
    if skip_qe:
        return
    load_profile()
    from aiida_hydrides.codes import ensure_codes
    from aiida_hydrides.pseudos import ensure_pseudo_family

    codes = ensure_codes()
    ensure_pseudo_family()
    _title(f'3. DFT enthalpy at {pressure:g} GPa (vc-relax + SCF with pw.x, through AiiDA)')
    _run_dft_enthalpy(codes, pressure, protocol)
    _title('4. Electron-phonon coupling and Tc (pw.x -> ph.x -> q2r.x -> matdyn.x)')
    _run_epc(codes)
    _title('5. What was stored (QueryBuilder)')
    _query_results()
