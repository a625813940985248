"""``aiida-hydrides demo``: the end-to-end demonstration run on the default AiiDA profile."""

import contextlib

import click

from aiida_hydrides.cli.params import options
from aiida_hydrides.cli.utils import load_profile


def _title(text: str):
    click.secho(f'\n== {text}', fg='cyan', bold=True)


def _show_compositions(system: str):
    from aiida_hydrides.core.compositions import count_compositions, enumerate_compositions, reference_compositions

    comps = enumerate_compositions(system)
    refs = reference_compositions(system)
    click.echo(
        f'{len(comps)} compositions A_mB_nH_x ({count_compositions(system, distinct=True)} distinct reduced '
        f'formulas), e.g. {", ".join(c.formula for c in comps[:4])}, ..., {comps[-1].formula}'
    )
    click.echo(
        f'hull references: {len(refs.elements)} elements, {len(refs.hydrides)} binary hydrides, '
        f'{len(refs.alloys)} alloys'
    )


def _show_prototypes():
    from aiida_hydrides.core.descriptors import describe
    from aiida_hydrides.core.prototypes import build_prototype

    cases = [('CaH6', ('Ca',)), ('CaH6', ('Y',)), ('CaYH12', ('Ca', 'Y')), ('H3S', ('S',)), ('LaH10', ('La',))]
    click.echo(f'{"formula":<10} {"space group":<14} {"atomic-H":>9} {"d_HH/Å":>7}  passes sg>75 and atomic-H>0.75')
    for name, elements in cases:
        info = describe(build_prototype(name, *elements))
        passes = info['space_group_number'] > 75 and (info['atomic_h_fraction'] or 0) > 0.75
        group = f'{info["space_group_symbol"]} ({info["space_group_number"]})'
        click.echo(
            f'{info["reduced_formula"]:<10} {group:<14} {info["atomic_h_fraction"]:>9.2f} '
            f'{info["shortest_hh_distance"]:>7.3f}  {"yes" if passes else "no"}'
        )


def _show_hull(system: str):
    from aiida_hydrides.core.compositions import parse_system
    from aiida_hydrides.core.hull import build_hull

    a, b = parse_system(system)
    # Illustrative enthalpies (eV/atom) of a few phases; real ones come from LAM or DFT relaxations at pressure.
    entries = [
        (a, 0.0),
        (b, 0.0),
        ('H', 0.0),
        (f'{a}H6', -0.30),
        (f'{b}H6', -0.35),
        (f'{a}{b}H12', -0.36),
        (f'{a}{b}H10', -0.20),
    ]
    hull = build_hull(entries, pressure=200.0)
    click.echo(
        'Note: the enthalpies of this step are illustrative numbers, not calculated ones; they show how the hull '
        'gives E_hull and the decomposition products (real ones come from LAM or DFT relaxations at pressure).'
    )
    click.echo(f'{"phase":<10} {"H_f (eV/atom)":>14} {"E_hull (meV/atom)":>18}  decomposes to')
    for point in hull.points:
        parts = ' + '.join(f'{part.fraction:.2f} {part.formula}' for part in point.decomposition) or '-'
        click.echo(
            f'{point.formula:<10} {point.formation_enthalpy_per_atom:>14.3f} {1000 * point.e_hull:>18.1f}  '
            f'{parts if point.e_hull > 0 else "(on the hull)"}'
        )


#: Group of every node the demo makes (work chains, their calculations, inputs and outputs).
DEMO_GROUP = 'hydrides/demo'
#: The calculations whose finished results the demo reuses (AiiDA caching): those of Quantum ESPRESSO.
QE_CACHING = 'aiida.calculations:quantumespresso.*'


@contextlib.contextmanager
def qe_caching():
    """AiiDA caching for the Quantum ESPRESSO calculations within the context: a calculation with the same inputs as
    a finished one is not run again, its results are copied (the copy records where it came from)."""
    from aiida.manage.caching import enable_caching

    context = enable_caching(identifier=QE_CACHING)
    context.__enter__()
    try:
        yield
    finally:
        context.__exit__(None, None, None)


def _run(builder, since, cache_qe: bool = False):
    """Run ``builder`` in this process (an interruption stops it cleanly, see :mod:`aiida_hydrides.processes`), with
    the QE calculations cached when ``cache_qe``, and put every node it made since ``since`` (its inputs included)
    into :data:`DEMO_GROUP`."""
    from aiida_hydrides.processes import run_interruptible

    with qe_caching() if cache_qe else contextlib.nullcontext():
        node = run_interruptible(builder)
    add_to_demo_group(node, since)
    if cache_qe:
        calculations = [
            descendant
            for descendant in node.called_descendants
            if (descendant.process_type or '').startswith('aiida.calculations:quantumespresso.')
        ]
        reused = sum(1 for calculation in calculations if calculation.base.caching.is_created_from_cache)
        if reused:
            click.echo(
                f'({reused} of {len(calculations)} QE calculations reused from earlier runs with the same inputs: '
                'AiiDA caching)'
            )
    return node


def add_to_demo_group(node, since):
    """Add to :data:`DEMO_GROUP` the process ``node``, its descendants, their inputs and outputs, that were created at
    ``since`` or later (shared nodes made before, such as codes and pseudopotentials, stay out)."""
    from aiida import orm
    from aiida.common.links import LinkType
    from aiida.tools.graph.graph_traversers import traverse_graph

    found = traverse_graph(
        [node.pk],
        links_forward=[LinkType.CALL_CALC, LinkType.CALL_WORK, LinkType.CREATE, LinkType.RETURN],
        links_backward=[LinkType.INPUT_CALC, LinkType.INPUT_WORK],
    )['nodes']
    query = orm.QueryBuilder().append(
        orm.Node, filters={'id': {'in': sorted(found)}, 'ctime': {'>=': since}}, project='*'
    )
    group, _ = orm.Group.collection.get_or_create(DEMO_GROUP)
    group.add_nodes([created for (created,) in query.iterall()])


def _show_setup(computer='localhost'):
    from aiida import orm

    from aiida_hydrides.codes import ensure_codes
    from aiida_hydrides.pseudos import ensure_pseudo_family

    codes = ensure_codes(computer=computer)
    family = ensure_pseudo_family()
    click.echo(f'codes: {", ".join(code.full_label for code in codes.values())}')
    qb = orm.QueryBuilder().append(orm.Group, filters={'label': family.label}, tag='family')
    qb.append(orm.Node, with_group='family', project=['attributes.element', 'attributes.z_valence'])
    rows = sorted(qb.all())
    click.echo(f'pseudopotential family {family.label!r} ({len(rows)} elements, found with QueryBuilder):')
    click.echo('  ' + ', '.join(f'{element}({int(z)}e)' for element, z in rows))


def _show_dft_enthalpy(pressure: float, computer='localhost'):
    from aiida import orm
    from aiida.common import timezone

    from aiida_hydrides.codes import ensure_codes
    from aiida_hydrides.core.descriptors import describe
    from aiida_hydrides.core.prototypes import h3s_primitive
    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    since = timezone.now()
    code = ensure_codes(computer=computer, shorts=['pw'])['pw']
    structure = orm.StructureData(ase=h3s_primitive('S', a=3.05))
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(code, structure, pressure=pressure, protocol='fast')
    click.echo(f'hydrides.dft.enthalpy: pw.x vc-relax of H3S at {pressure:g} GPa, then a final SCF (fast protocol)')
    node = _run(builder, since, cache_qe=True)
    if not node.is_finished_ok:
        raise click.ClickException(f'DftEnthalpyWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')
    relaxed = node.outputs.relaxed_structure
    a = (2 * relaxed.get_cell_volume()) ** (1 / 3)
    info = describe(relaxed.get_ase())
    click.echo(
        f'DftEnthalpyWorkChain<{node.pk}>: a = {a:.3f} Å (PBE literature 2.98-3.00 Å), '
        f'{info["space_group_symbol"]}, H = {node.outputs.enthalpy_per_atom.value:.4f} eV/atom, '
        f'P = {node.outputs.pressure.value:.1f} GPa'
    )
    qb = orm.QueryBuilder().append(
        orm.StructureData,
        filters={'extras.hydrides.pressure_gpa': pressure, 'extras.hydrides.method': 'dft'},
        project=['id', 'extras.hydrides.formula', 'extras.hydrides.enthalpy_dft_ev'],
    )
    click.echo(
        f'QueryBuilder, structures relaxed at {pressure:g} GPa: '
        + ', '.join(f'<{pk}> {formula} {enthalpy:.4f} eV/atom' for pk, formula, enthalpy in qb.all())
    )


def _show_epc(computer='localhost'):
    from aiida import orm
    from aiida.common import timezone

    from aiida_hydrides.cli.epc import format_epc_summary
    from aiida_hydrides.codes import ensure_codes
    from aiida_hydrides.core.prototypes import fcc_element
    from aiida_hydrides.workflows.epc.base import AL_EXAMPLE03_CUTOFFS, AL_EXAMPLE03_OVERRIDES, ElectronPhononWorkChain

    since = timezone.now()
    codes = ensure_codes(computer=computer, shorts=['pw', 'ph', 'q2r', 'matdyn', 'projwfc'])
    structure = orm.StructureData(ase=fcc_element('Al', a=4.04))
    builder = ElectronPhononWorkChain.get_builder_from_protocol(
        codes, structure, protocol='fast', overrides=AL_EXAMPLE03_OVERRIDES, cutoffs=AL_EXAMPLE03_CUTOFFS
    )
    click.echo(
        'hydrides.epc on fcc Al (PHonon example03 grids: k 8^3/16^3, q 4^3): pw.x, projwfc.x, ph.x, q2r.x, '
        'matdyn.x, then α²F, λ and Tc'
    )
    node = _run(builder, since, cache_qe=True)
    if not node.is_finished_ok:
        raise click.ClickException(
            f'ElectronPhononWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}'
        )
    click.echo(f'ElectronPhononWorkChain<{node.pk}> (experiment: Tc = 1.18 K)')
    click.echo(format_epc_summary(node.outputs.tc.get_dict()))
    if 'projected_dos' in node.outputs:
        dos = node.outputs.projected_dos.get_dict()
        click.echo(f'N(E_F)    = {dos["dos_total_states_per_ev"]:.3f} states/eV/cell (projwfc.x, both spins)')


#: Campaign group of the demo's discovery; a second demo run reuses what it holds.
DEMO_CAMPAIGN = 'hydrides/demo/discovery/Ca-Y/200GPa'
#: Where the demo writes the report of its discovery.
DEMO_REPORT_DIR = 'hydrides-demo-report'


def _show_discovery(computer='localhost'):
    import pathlib

    from aiida.common import timezone

    from aiida_hydrides.cli.discover import format_candidates
    from aiida_hydrides.discovery import DEMO_COMPOSITIONS, demo_builder
    from aiida_hydrides.report import write_report

    since = timezone.now()
    builder = demo_builder(computer, campaign=DEMO_CAMPAIGN)
    click.echo(
        f'hydrides.discovery: search of {", ".join(DEMO_COMPOSITIONS)} with the seed model, the filter cascade (LAM '
        'hull, symmetry, atomic H, LAM phonons, DFT hull with pw.x), the best survivor through the EPC'
    )
    node = _run(builder, since, cache_qe=True)
    if 'candidates' not in node.outputs:
        raise click.ClickException(f'DiscoveryWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')
    funnel = node.outputs.funnel.get_dict()
    search = funnel.get('search') or {}
    click.echo(
        f'DiscoveryWorkChain<{node.pk}>: {search.get("relaxations", 0)} relaxations, {search.get("minima", 0)} minima, '
        f'{funnel["survivors"]} survivors of the cascade, {funnel["epc_done"]} with λ and Tc, '
        f'{funnel["epc_unstable"]} dynamically unstable'
    )
    click.echo(format_candidates(node.outputs.candidates.get_dict()['candidates']))
    report = write_report(DEMO_CAMPAIGN, pathlib.Path(DEMO_REPORT_DIR))
    click.echo(f'report: {pathlib.Path(DEMO_REPORT_DIR).resolve() / "index.html"}')
    click.echo(
        f'then: aiida-hydrides candidates {DEMO_CAMPAIGN} --format csv; aiida-hydrides export {DEMO_CAMPAIGN} '
        '-o demo.aiida'
    )
    return report


#: Group of the demo's search minima; a second demo run finds the compositions finished and skips them.
DEMO_SEARCH_GROUP = 'hydrides/demo/search/Ca-Y/200GPa'


def _show_search(pressure: float, computer='localhost'):
    from aiida import orm
    from aiida.common import timezone

    from aiida_hydrides.codes import ensure_lam_code
    from aiida_hydrides.core.text import count
    from aiida_hydrides.models import seed_model_path
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    since = timezone.now()
    overrides = {
        'parameters': {'budget': 24, 'population': 12, 'max_atoms': 14, 'formula_units': [2], 'seed': 0},
        'max_concurrent_jobs': 1,
    }
    builder = SystemSearchWorkChain.get_builder_from_protocol(
        ensure_lam_code(computer),
        'Ca-Y',
        str(seed_model_path()),
        pressure=pressure,
        protocol='fast',
        overrides=overrides,
        compositions=['CaH6', 'YH6'],
        group_label=DEMO_SEARCH_GROUP,
    )
    click.echo(
        f'hydrides.search.system: CaH6 and YH6 at {pressure:g} GPa, 24 relaxations each (random symmetric '
        'cells, then learned offspring) with the seed DeePMD model'
    )
    node = _run(builder, since)
    if 'summary' not in node.outputs:
        raise click.ClickException(f'SystemSearchWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')
    for formula, entry in node.outputs.summary.get_dict()['compositions'].items():
        click.echo(
            f'  {formula:<6} {entry.get("status", "-"):<9} best {entry.get("best_space_group_symbol") or "-"} '
            f'H = {entry.get("best_enthalpy_per_atom") or float("nan"):.4f} eV/atom, '
            f'{count(entry.get("n_minima") or 0, "minimum")}, {entry.get("n_promoted") or 0} of them in the group'
        )
    qb = orm.QueryBuilder().append(orm.Group, filters={'label': DEMO_SEARCH_GROUP}, tag='group')
    qb.append(
        orm.StructureData,
        with_group='group',
        filters={'extras.hydrides.space_group_number': {'>': 75}},
        project=[
            'id',
            'extras.hydrides.formula',
            'extras.hydrides.space_group_symbol',
            'extras.hydrides.e_above_best_mev',
        ],
    )
    rows = sorted(qb.all(), key=lambda row: (row[1], row[3]))
    click.echo(
        'QueryBuilder, minima with space group > 75: '
        + (', '.join(f'<{pk}> {formula} {symbol} (+{mev:.0f} meV/atom)' for pk, formula, symbol, mev in rows) or 'none')
    )


@click.command('demo')
@click.option('--system', default='Ca-Y', show_default=True, help='Chemical system A-B of the composition step.')
@click.option('--skip-qe', is_flag=True, help='Only the pure-Python steps (no AiiDA profile, no Quantum ESPRESSO).')
@click.option('--skip-runs', is_flag=True, help='Set up QE in AiiDA but run no pw.x/ph.x calculation.')
@options.COMPUTER(help='Computer of the Quantum ESPRESSO and hydrides-lam codes of the demo (created when missing).')
@options.VERBOSE()
def demo(system, skip_qe, skip_runs, computer, verbose):
    """Run the demonstration on the default AiiDA profile.

    Compositions of a system and its hull references, hydride descriptors of known prototypes, a convex hull at
    pressure, the offline Quantum ESPRESSO set-up (codes and the ld1.x-generated pseudopotential family) stored
    in AiiDA and found again with QueryBuilder, the DFT enthalpy of H3S at 200 GPa and the electron-phonon Tc of
    fcc Al through the work chains (a few minutes of pw.x/ph.x on 2 cores), a structure search of CaH6 and YH6
    with the seed DeePMD model whose minima are found again with QueryBuilder, and a discovery of superconductors in
    that slice of Ca-Y-H end to end (search, filter cascade, EPC of the best survivor), with its ranked candidates and
    an HTML report in ./hydrides-demo-report.

    Run again, the demo reuses the finished QE calculations (AiiDA caching) and skips the finished search, so it takes
    about a minute. Every node it makes is put in the group hydrides/demo. Ctrl-C stops it cleanly.
    """
    _title(f'1. Composition space of {system}-H')
    _show_compositions(system)
    _title('2. Hydride descriptors of known prototypes (filter cascade: space group > 75, atomic-H > 75 %)')
    _show_prototypes()
    _title('3. Convex hull at 200 GPa (illustrative enthalpies: formation enthalpies, E_hull, decomposition)')
    _show_hull(system)
    if skip_qe:
        return
    load_profile()
    from aiida_hydrides.cli.console import console_output
    from aiida_hydrides.cli.launch import exit_interrupted
    from aiida_hydrides.processes import ProcessInterrupted

    with console_output(verbose):
        _title('4. Quantum ESPRESSO codes and the offline pseudopotential family in AiiDA')
        _show_setup(computer)
        if skip_runs:
            return
        try:
            _title('5. DFT enthalpy at 200 GPa: Im-3m H3S through the hydrides.dft.enthalpy work chain')
            _show_dft_enthalpy(200.0, computer)
            _title('6. Electron-phonon coupling and Tc through the hydrides.epc work chain')
            _show_epc(computer)
            _title(
                '7. Structure search at 200 GPa with the seed DeePMD model through the hydrides.search.system work '
                'chain'
            )
            _show_search(200.0, computer)
            _title('8. Discovery of superconductors in Ca-Y-H at 200 GPa (CaH6, YH6) through hydrides.discovery')
            _show_discovery(computer)
        except ProcessInterrupted as interruption:
            exit_interrupted(
                interruption,
                'Run `aiida-hydrides demo` again: the finished QE calculations are reused from the cache and the '
                'finished search compositions are skipped.',
            )
        click.echo(f"\nEvery node the demo made is in the group '{DEMO_GROUP}' (verdi group show {DEMO_GROUP}).")
