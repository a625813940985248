"""A search job that restarts itself: ``hydrides.search.base`` on CaH6, YH6 and CaYH12 at 200 GPa.

The worker is given a time limit so short (``max_wall_s``, normally derived from the job's walltime) that every job
finishes one composition and stops with the walltime exit code (400); the work chain then resubmits only the
compositions not yet finished, so three jobs search the three compositions, each once. The seed DeePMD model, 6
relaxations per composition; about 1 min on 2 cores. Nothing is added to a group (``hydrides.search.system`` does
that); the outputs of every job are in the work chain's ``samples``, ``minima`` and ``summary`` namespaces, keyed
``iteration_<NN>``.

    verdi run examples/run_search_base.py
"""

from aiida import load_profile
from aiida.engine import run_get_node

from aiida_hydrides.codes import ensure_lam_code
from aiida_hydrides.models import seed_model_path
from aiida_hydrides.workflows.search.base import SearchBaseWorkChain

load_profile()  # no-op under `verdi run`, which has loaded the profile already
overrides = {'search': {'parameters': {'budget': 6, 'population': 6, 'max_atoms': 14, 'seed': 0, 'max_wall_s': 1e-3}}}
builder = SearchBaseWorkChain.get_builder_from_protocol(
    ensure_lam_code('localhost'),
    ['CaH6', 'YH6', 'CaYH12'],
    str(seed_model_path()),
    pressure=200.0,
    protocol='fast',
    overrides=overrides,
)
print('SearchBaseWorkChain: CaH6, YH6 and CaYH12 at 200 GPa, one composition per job (a tiny time limit) ...')
results, node = run_get_node(builder)
print(f'SearchBaseWorkChain<{node.pk}> finished [{node.exit_status}] after {len(node.called)} job(s):')
for calc in sorted(node.called, key=lambda called: called.ctime):
    entries = calc.outputs.summary.get_dict().get('compositions', []) if 'summary' in calc.outputs else []
    done = [entry['formula'] for entry in entries if entry.get('status') == 'finished']
    rest = [entry['formula'] for entry in entries if entry.get('status') != 'finished']
    print(
        f'  {calc.process_label}<{calc.pk}> exit {calc.exit_status}: searched {", ".join(done) or "-"}; '
        f'left for the next job: {", ".join(rest) or "-"}'
    )
for iteration, summary in sorted(results['summary'].items()):
    for entry in summary.get_dict().get('compositions', []):
        if entry.get('status') == 'finished' and entry.get('best_enthalpy_per_atom') is not None:
            print(
                f'  {entry["formula"]:<7} best {entry.get("best_space_group_symbol"):<8} '
                f'H = {entry["best_enthalpy_per_atom"]:.4f} eV/atom ({iteration})'
            )
