"""The filter cascade ``hydrides.screen`` on a small Ca-Y-H search at 200 GPa with the seed DeePMD model.

First a tiny search (``hydrides.search.system``: the elements Ca, Y, H and the hydrides CaH6 and YH6, 12 relaxations
each, about a minute on 2 cores) fills the group ``hydrides/examples/screen/Ca-Y/200GPa``; then the cascade screens
its minima: LAM hull, symmetry, atomic hydrogen, LAM phonons (one ``hydrides.lam.phonons`` job) and the DFT hull
(``hydrides.dft.enthalpy``, fast protocol, for the survivors and the hull phases of their subsystems: a few minutes
of pw.x). Running the script again skips the search and reuses the phonons and DFT enthalpies, so it takes seconds.
The ``hydrides-lam`` and ``pw`` codes on ``localhost`` are created when missing.

    verdi run examples/run_screen.py
"""

from aiida import load_profile, orm
from aiida.engine import run_get_node

from aiida_hydrides.codes import ensure_codes, ensure_lam_code
from aiida_hydrides.models import seed_model_path
from aiida_hydrides.workflows.screen.base import ScreenWorkChain
from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

GROUP = 'hydrides/examples/screen/Ca-Y/200GPa'

load_profile()  # no-op under `verdi run`, which has loaded the profile already
lam = ensure_lam_code('localhost')
search = SystemSearchWorkChain.get_builder_from_protocol(
    lam,
    'Ca-Y',
    str(seed_model_path()),
    pressure=200.0,
    protocol='fast',
    overrides={'parameters': {'budget': 12, 'population': 6, 'max_atoms': 14, 'seed': 0}, 'max_concurrent_jobs': 1},
    compositions=['Ca', 'Y', 'H', 'CaH6', 'YH6'],
    group_label=GROUP,
)
print('SystemSearchWorkChain: Ca, Y, H, CaH6 and YH6 at 200 GPa, 12 relaxations each ...')
results, node = run_get_node(search)
if 'summary' not in results:
    raise SystemExit(f'SystemSearchWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')

builder = ScreenWorkChain.get_builder_from_protocol(
    lam,
    GROUP,
    pw_code=ensure_codes(computer='localhost', shorts=['pw'])['pw'],
    protocol='fast',
    overrides={'dft': {'max_concurrent': 1}},
    dft_options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 2}},
)
print(f'ScreenWorkChain on {GROUP} ...')
results, node = run_get_node(builder)
if 'funnel' not in results:
    raise SystemExit(f'ScreenWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')

funnel = results['funnel'].get_dict()
print(f'ScreenWorkChain<{node.pk}> finished [{node.exit_status}]')
for stage in funnel['stages']:
    print(f'  {stage["stage"]:<12} {stage["entering"]:>4} in {stage["leaving"]:>4} out')
print(
    f'survivors in group {funnel["survivors_group"]!r}: {", ".join(s["formula"] for s in funnel["survivors"]) or "none"}'
)

# the verdicts are extras of the candidates: e.g. those that passed the LAM stages and failed the phonons
query = orm.QueryBuilder().append(
    orm.StructureData,
    filters={'extras.hydrides.screen.failed_stage': 'lam_phonons', 'extras.hydrides.screen.workchain_uuid': node.uuid},
    project=['id', 'extras.hydrides.formula', 'extras.hydrides.screen.lam_phonons.value'],
)
for pk, formula, thz in query.all():
    print(f'  <{pk}> {formula}: imaginary mode of {thz:.1f} THz')
