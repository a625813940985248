"""EPC over a group of structures: the ``hydrides.epc.batch`` work chain on fcc Al and simple-cubic Al.

Both one-atom cells are relaxed at 0 GPa (``hydrides.dft.enthalpy``), then ``hydrides.epc`` computes λ, ω_log and Tc of
fcc Al; simple-cubic Al has imaginary phonons at X and M and is recorded as ``unstable`` with its modes (a result, not a
failure). The grids and cutoffs are those of QE's PHonon example03 (k 8³ / dense 16³, q 4³, 30 / 240 Ry) over the
``fast`` protocol, two sub-processes at a time: a few minutes on 2 cores. Run it again: both structures are skipped
and their results reused. Codes and the offline pseudopotential family are created when missing.

    verdi run examples/run_epc_batch.py
"""

import numpy as np
from aiida import load_profile, orm
from aiida.engine import run_get_node

from aiida_hydrides.codes import ensure_codes
from aiida_hydrides.core.prototypes import fcc_element
from aiida_hydrides.pseudos import ensure_pseudo_family
from aiida_hydrides.workflows.epc.base import AL_EXAMPLE03_CUTOFFS, AL_EXAMPLE03_OVERRIDES
from aiida_hydrides.workflows.epc.batch import EpcBatchWorkChain

GROUP = 'hydrides/examples/epc-batch/Al'

load_profile()  # no-op under `verdi run`, which has loaded the profile already
codes = ensure_codes('localhost', shorts=['pw', 'ph', 'q2r', 'matdyn'])
family = ensure_pseudo_family()

group, created = orm.Group.collection.get_or_create(GROUP)
if created or group.is_empty:
    simple_cubic = orm.StructureData(cell=(2.70 * np.eye(3)).tolist())
    simple_cubic.append_atom(position=(0.0, 0.0, 0.0), symbols='Al')
    simple_cubic.label = 'simple-cubic Al'
    fcc = orm.StructureData(ase=fcc_element('Al', a=4.04))
    fcc.label = 'fcc Al'
    group.add_nodes([fcc.store(), simple_cubic.store()])

builder = EpcBatchWorkChain.get_builder_from_protocol(
    codes,
    group=group,
    pressure=0.0,
    protocol='fast',
    overrides={
        'max_concurrent': 2,
        'relax': {'overrides': {'kpoints_distance': 0.4}},
        'epc': {'overrides': AL_EXAMPLE03_OVERRIDES},
    },
    pseudo_family=family,
    cutoffs=AL_EXAMPLE03_CUTOFFS,
)
print(f'EpcBatchWorkChain on group {GROUP!r}: relax at 0 GPa, then EPC (k 8^3 / 16^3, q 4^3) ...')
results, node = run_get_node(builder)
if 'summary' not in results:
    raise SystemExit(f'EpcBatchWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')

summary = results['summary'].get_dict()
print(
    f'EpcBatchWorkChain<{node.pk}> finished [{node.exit_status}]: '
    + ', '.join(f'{count} {status}' for status, count in summary['counts'].items())
)
for record in summary['structures']:
    status = record['status']
    result = record.get('reused_status', status)
    line = f'  {record["label"] or record["formula"]:<16} <{record["pk"]}> {status:<8}'
    if result == 'done':
        tc = record.get('tc_allen_dynes_K_mu0_10')
        line += (
            f' lambda = {record["lambda"]:.3f}, omega_log = {record["omega_log_K"]:.1f} K, '
            f'Tc(Allen-Dynes, mu* 0.10) = ' + ('-' if tc is None else f'{tc:.2f} K')
        )
    elif result == 'unstable':
        line += f' {record["n_imaginary_modes"]} imaginary mode(s), lowest {record["min_frequency_cm"]:.1f} cm^-1'
    else:
        line += f' {record["stage"]}: {record["error"]}'
    print(line)
