"""End-to-end discovery on a slice of Ca-Y-H at 200 GPa: the ``hydrides.discovery`` work chain with its ``demo``
protocol.

The shipped LAM searches CaH6 and YH6 (24 relaxations each, cells of one formula unit); the filter cascade keeps the
candidates on the LAM hull with high symmetry, atomic hydrogen and no LAM imaginary mode, then checks them with pw.x
on the DFT hull (searching the hull references it needs); the best survivor by the stage-1 priority rules goes through
``hydrides.epc.batch`` (fast protocol at demonstration grids, on the cascade's relaxation). About 17 minutes on 2 cores. Everything goes into the campaign group
``hydrides/examples/discovery/Ca-Y/200GPa``; run it again and nothing done is done twice.

    verdi run examples/run_discovery.py

Then ``aiida-hydrides candidates hydrides/examples/discovery/Ca-Y/200GPa`` and ``aiida-hydrides report ...``.
"""

from aiida import load_profile
from aiida.engine import run_get_node

from aiida_hydrides.discovery import demo_builder

CAMPAIGN = 'hydrides/examples/discovery/Ca-Y/200GPa'

load_profile()  # no-op under `verdi run`, which has loaded the profile already
builder = demo_builder('localhost', campaign=CAMPAIGN)
print(f'DiscoveryWorkChain: Ca-Y-H at 200 GPa (CaH6, YH6), campaign {CAMPAIGN!r} ...')
results, node = run_get_node(builder)
if 'candidates' not in results:
    raise SystemExit(f'DiscoveryWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')

funnel = results['funnel'].get_dict()
print(f'DiscoveryWorkChain<{node.pk}> finished [{node.exit_status}]')
print(
    f'funnel: {funnel["search"]["relaxations"]} relaxations, {funnel["search"]["minima"]} minima, '
    f'{funnel["survivors"]} survivors, {funnel["epc_done"]} EPC done, {funnel["epc_unstable"]} unstable'
)
for row in results['candidates'].get_dict()['candidates']:
    tc = row.get('tc_allen_dynes_K_mu0_10')
    print(
        f'  {row["rank"]:>2} {row["formula"]:<8} {row.get("space_group") or "-":<8} {row["status"]:<12} '
        + ('' if tc is None else f'lambda = {row["lambda"]:.2f}, Tc(Allen-Dynes, mu* 0.10) = {tc:.0f} K')
    )
