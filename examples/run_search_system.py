"""Structure search of CaH6 and YH6 (system Ca-Y) at 200 GPa with the seed DeePMD model: ``hydrides.search.system``.

A tiny budget (12 relaxations per composition, cells of 2 formula units, 14 atoms at most) in one ``hydrides-lam``
job; about 40 s on 2 cores. Every relaxed structure stays in the job's arrays; the minima that can pass the LAM hull
become ``StructureData`` nodes tagged with ``extras.hydrides`` in the group printed below (the others are listed and
promoted by ``aiida-hydrides minima GROUP``); running the script again skips the compositions that group records as
finished (for the same model), so it finishes in about 5 s and prints the stored results. The ``hydrides-lam`` code
on ``localhost`` is created when missing.

    verdi run examples/run_search_system.py
"""

from aiida import load_profile, orm
from aiida.engine import run_get_node

from aiida_hydrides.codes import ensure_lam_code
from aiida_hydrides.models import seed_model_path
from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

GROUP = 'hydrides/examples/search/Ca-Y/200GPa'

load_profile()  # no-op under `verdi run`, which has loaded the profile already
overrides = {
    'parameters': {'budget': 12, 'population': 6, 'max_atoms': 14, 'formula_units': [2], 'seed': 0},
    'max_concurrent_jobs': 1,
}
builder = SystemSearchWorkChain.get_builder_from_protocol(
    ensure_lam_code('localhost'),
    'Ca-Y',
    str(seed_model_path()),
    pressure=200.0,
    protocol='fast',
    overrides=overrides,
    compositions=['CaH6', 'YH6'],
    group_label=GROUP,
)
print('SystemSearchWorkChain: CaH6 and YH6 at 200 GPa, 12 relaxations each with the seed model ...')
results, node = run_get_node(builder)
if 'summary' not in results:
    raise SystemExit(f'SystemSearchWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')

summary = results['summary'].get_dict()
print(
    f'SystemSearchWorkChain<{node.pk}> finished [{node.exit_status}]: {summary["n_searched"]} searched, '
    f'{summary["n_skipped"]} skipped, {summary["n_minima"]} minima, {summary["n_promoted"]} of them in group '
    f'{GROUP!r}'
)
for formula, entry in summary['compositions'].items():
    best = entry.get('best_enthalpy_per_atom')
    print(
        f'  {formula:<6} {entry["status"]:<9} best {entry.get("best_space_group_symbol") or "-":<8} '
        f'H = {best if best is not None else float("nan"):.4f} eV/atom, {entry.get("n_minima") or 0} minima'
    )
query = orm.QueryBuilder().append(orm.Group, filters={'label': GROUP}, tag='group')
query.append(
    orm.StructureData,
    with_group='group',
    project=['id', 'extras.hydrides.formula', 'extras.hydrides.space_group_symbol', 'extras.hydrides.e_above_best_mev'],
)
for pk, formula, symbol, mev in sorted(query.all(), key=lambda row: (row[1], row[3]))[:6]:
    print(f'  minimum <{pk}> {formula} {symbol} +{mev:.0f} meV/atom above the best')
