"""Train a tiny Tc model ensemble and predict a group: ``verdi run examples/run_tc_model.py``.

Six Ca-Y-H prototype structures of the hydride Tc dataset with made-up Tc labels (a demonstration of the plumbing, not
a model of Tc) train an ensemble of two DeePMD property models fine-tuned from the shipped seed LAM
(``hydrides.tc_model.train``, 200 steps each), validated on two more; then three structures put in a group are
predicted (``hydrides.tc_model.predict``) and their ``extras.hydrides.tc_model`` printed. About a minute or two on two
cores. See docs/tc_model.md.
"""

from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory

from aiida_hydrides.codes import ensure_dp_code
from aiida_hydrides.core.tc_dataset import dataset_entry
from aiida_hydrides.core.tc_model.records import TcRecord
from aiida_hydrides.extras import get_tags
from aiida_hydrides.tc_model import predict_group, records_node

TRAIN = (
    'YH3-MH3-Fm-3m-200GPa',
    'CaH4-MH4-I4_mmm-200GPa',
    'YH4-MH4-I4_mmm-150GPa',
    'CaH6-MH6-Im-3m-150GPa',
    'CaH6-MH6-Im-3m-250GPa',
    'YH6-MH6-Im-3m-200GPa',
)
VALIDATION = ('CaH6-MH6-Im-3m-200GPa', 'CaYH12-ABH12-Pm-3m-200GPa')
CANDIDATES = ('YH6-MH6-Im-3m-150GPa', 'CaH10-MH10-Fm-3m-200GPa', 'YH10-MH10-Fm-3m-250GPa')


def record(name: str) -> TcRecord:
    """A record of a dataset entry with a made-up Tc (pressure, H fraction and volume per atom)."""
    entry = dataset_entry(name)
    atoms = entry.build()
    h = atoms.get_chemical_symbols().count('H') / len(atoms)
    return TcRecord(
        name=name,
        formula=entry.formula,
        symbols=tuple(atoms.get_chemical_symbols()),
        cell=tuple(map(tuple, atoms.cell[:])),
        positions=tuple(map(tuple, atoms.positions)),
        pressure_gpa=entry.pressure_gpa,
        tc_k=0.6 * entry.pressure_gpa + 40.0 * h + 5.0 * atoms.get_volume() / len(atoms),
        source='example (made-up label)',
    )


def main():
    code = ensure_dp_code()
    builder = CalculationFactory('hydrides.tc_model.train').get_builder()
    builder.code = code
    builder.records = records_node([record(name) for name in TRAIN], tc_key='allen_dynes_mu0_10')
    builder.validation_records = records_node([record(name) for name in VALIDATION], tc_key='allen_dynes_mu0_10')
    builder.settings = orm.Dict({'steps': 200, 'fitting_neuron': [16, 16], 'start_lr': 2e-3, 'stop_lr': 1e-4})
    builder.ensemble_size = orm.Int(2)
    builder.metadata.options.max_wallclock_seconds = 1800
    _, node = run_get_node(builder)
    if not node.is_finished_ok:
        raise SystemExit(f'the training failed: {node.exit_status} {node.exit_message}')
    summary = node.outputs.summary.get_dict()
    validation = node.outputs.validation.get_dict()
    print(f'trained {summary["ensemble_size"]} members ({summary["mode"]}, type map {summary["type_map"]}): ')
    print(f'  training MAE {summary["training_mae_K"]:.1f} K, validation MAE {validation["mae_K"]:.1f} K')

    group, _ = orm.Group.collection.get_or_create(label='hydrides/examples/tc_model/candidates')
    present = {node.base.extras.get('example_entry', None) for node in group.nodes}
    for name in CANDIDATES:
        if name not in present:
            structure = orm.StructureData(ase=dataset_entry(name).build()).store()
            structure.base.extras.set('example_entry', name)
            group.add_nodes(structure)
    predict_group(group, node, code=code)
    for structure in group.nodes:
        extra = get_tags(structure)['tc_model']
        print(
            f'  {structure.base.extras.get("example_entry", structure.get_formula())}: '
            f'Tc {extra["tc_mean_K"]:.1f} ± {extra["tc_spread_K"]:.1f} K '
            f'({extra["tc_formula"]}, mu* {extra["mu_star"]})'
        )


if __name__ == '__main__':
    main()
