"""``hydrides.tc_model.train`` and ``hydrides.tc_model.predict`` on localhost: a real ensemble of 2 DeePMD property
models of Tc fine-tuned from the shipped seed LAM (a few hundred steps, on structures of the Tc dataset's Ca-Y-H
prototypes with made-up labels), then the prediction of a group and its extras; the input checks and a dry run."""

import json
import pathlib

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory, DataFactory, ParserFactory

from aiida_hydrides.core.tc_dataset import dataset_entry
from aiida_hydrides.core.tc_model.records import TcRecord

TRAIN = (
    'YH3-MH3-Fm-3m-200GPa',
    'CaH4-MH4-I4_mmm-200GPa',
    'YH4-MH4-I4_mmm-150GPa',
    'CaH6-MH6-Im-3m-150GPa',
    'CaH6-MH6-Im-3m-250GPa',
    'YH6-MH6-Im-3m-200GPa',
)
VALIDATION = ('CaH6-MH6-Im-3m-200GPa', 'CaYH12-ABH12-Pm-3m-200GPa')
PREDICT = ('YH6-MH6-Im-3m-150GPa', 'CaH10-MH10-Fm-3m-200GPa', 'YH3-MH3-Fm-3m-200GPa')
#: a tiny, fast ensemble (the descriptor is the seed LAM's, as it is)
SETTINGS = {'steps': 200, 'fitting_neuron': [16, 16], 'start_lr': 2.0e-3, 'stop_lr': 1.0e-4, 'threads': 1}


def _made_up_tc(atoms, pressure):
    """A label that the per-element output bias alone cannot fit (it depends on pressure and density)."""
    h = atoms.get_chemical_symbols().count('H') / len(atoms)
    return 0.6 * pressure + 40.0 * h + 5.0 * atoms.get_volume() / len(atoms)


def _record(name, labelled=True):
    entry = dataset_entry(name)
    atoms = entry.build()
    return TcRecord(
        name=name,
        formula=entry.formula,
        symbols=tuple(atoms.get_chemical_symbols()),
        cell=tuple(map(tuple, atoms.cell[:])),
        positions=tuple(map(tuple, atoms.positions)),
        pressure_gpa=entry.pressure_gpa,
        tc_k=_made_up_tc(atoms, entry.pressure_gpa) if labelled else None,
        features={'hydrogen_fraction': atoms.get_chemical_symbols().count('H') / len(atoms)},
        source='test',
    )


@pytest.fixture
def dp_code(aiida_localhost):
    from aiida_hydrides.codes import ensure_dp_code

    aiida_localhost.set_minimum_job_poll_interval(1.0)
    return ensure_dp_code(aiida_localhost)


@pytest.fixture(scope='module')
def tc_sets(aiida_profile):
    from aiida_hydrides.tc_model import records_node

    train = records_node([_record(name) for name in TRAIN], tc_key='allen_dynes_mu0_13').store()
    validation = records_node([_record(name) for name in VALIDATION], tc_key='allen_dynes_mu0_13').store()
    return train, validation


def _builder(code, train, validation=None, settings=SETTINGS, ensemble_size=2):
    builder = CalculationFactory('hydrides.tc_model.train').get_builder()
    builder.code = code
    builder.records = train
    if validation is not None:
        builder.validation_records = validation
    builder.settings = orm.Dict(settings)
    builder.ensemble_size = orm.Int(ensemble_size)
    builder.metadata.options.max_wallclock_seconds = 900
    return builder


def test_entry_points():
    from aiida_hydrides.calculations.tc_model_predict import TcModelPredictCalculation
    from aiida_hydrides.calculations.tc_model_train import TcModelTrainCalculation
    from aiida_hydrides.data.tc_set import TcSetData
    from aiida_hydrides.parsers.tc_model_predict import TcModelPredictParser
    from aiida_hydrides.parsers.tc_model_train import TcModelTrainParser

    assert CalculationFactory('hydrides.tc_model.train') is TcModelTrainCalculation
    assert CalculationFactory('hydrides.tc_model.predict') is TcModelPredictCalculation
    assert ParserFactory('hydrides.tc_model.train') is TcModelTrainParser
    assert ParserFactory('hydrides.tc_model.predict') is TcModelPredictParser
    assert DataFactory('hydrides.tc_model.tc_set') is TcSetData


def test_tc_set_round_trip(tc_sets):
    train, _ = tc_sets
    loaded = orm.load_node(train.pk)
    records = loaded.get_records()
    assert [r.name for r in records] == list(TRAIN) and loaded.tc_key == 'allen_dynes_mu0_13'
    original = _record(TRAIN[3])
    assert records[3].symbols == original.symbols and records[3].tc_k == pytest.approx(original.tc_k)
    np.testing.assert_allclose(records[3].positions, original.positions)
    assert loaded.base.attributes.get('formula_counts')['CaH6'] == 2 and loaded.elements == ['H', 'Ca', 'Y']
    assert len(loaded.get_arraynames()) == 6  # a few arrays per set, not a node per structure


def test_inputs_are_checked(aiida_profile, dp_code, tc_sets):
    from aiida_hydrides.tc_model import records_node

    train, _ = tc_sets
    sulfur = _record('H3S-MH3-Im-3m-200GPa')
    with pytest.raises(ValueError, match=r"elements \['S'\].*se_e2_a descriptor cannot be extended"):
        run_get_node(_builder(dp_code, records_node([sulfur])))
    with pytest.raises(ValueError, match='unknown Tc model settings'):
        run_get_node(_builder(dp_code, train, settings={'stepz': 3}))
    with pytest.raises(ValueError, match='without a Tc label'):
        run_get_node(_builder(dp_code, records_node([_record(TRAIN[0], labelled=False)])))
    with pytest.raises(ValueError, match='both in the training and the validation'):
        run_get_node(_builder(dp_code, train, records_node([_record(TRAIN[0])])))


def test_dry_run_writes_the_members_and_the_launcher(aiida_profile, dp_code, tc_sets, tmp_path, monkeypatch):
    from aiida_hydrides.calculations.tc_model_train import default_lam_model
    from aiida_hydrides.core.tc_model import predict

    monkeypatch.chdir(tmp_path)
    train, validation = tc_sets
    builder = _builder(dp_code, train, validation, ensemble_size=3)
    builder.lam_model = default_lam_model()  # found before the unstored dry-run node exists
    builder.metadata.dry_run = True
    builder.metadata.store_provenance = False
    _, node = run_get_node(builder)
    folder = pathlib.Path(node.dry_run_info['folder'])
    steps = json.loads((folder / 'tc_steps.json').read_text())
    assert [step['log'] for step in steps] == [
        'convert.log',
        *[f'{kind}_{member}.log' for member in range(3) for kind in ('train', 'freeze')],
        'predict.log',
    ]
    config = json.loads((folder / 'member_2' / 'input.json').read_text())
    assert config['model']['type_map'] == ['H', 'Ca', 'Y'] and config['model']['descriptor']['type'] == 'se_e2_a'
    assert config['training']['numb_steps'] == 200 and config['model']['fitting_net']['neuron'] == [16, 16]
    assert sorted(p.name for p in (folder / 'tc_training').iterdir()) == ['H3Y1', 'H4Ca1', 'H4Y1', 'H6Ca1', 'H6Y1']
    assert np.load(folder / 'tc_validation' / 'H12Ca1Y1' / 'set.000' / 'tc.npy').shape == (1, 1)
    assert (folder / 'run_tc_steps.py').read_text() == predict.launcher_script()
    script = (folder / node.dry_run_info['script_filename']).read_text()
    assert script.index('export OMP_NUM_THREADS=1') < script.index('./run_tc_steps tc_steps.json')


@pytest.mark.slow
def test_train_an_ensemble_then_predict_a_group(dp_code, tc_sets):
    from aiida_hydrides.extras import get_tags
    from aiida_hydrides.tc_model import predict_group

    train, validation = tc_sets
    _, node = run_get_node(_builder(dp_code, train, validation))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    outputs = node.outputs
    assert sorted(outputs.models) == ['member_0', 'member_1'] and sorted(outputs.learning_curves) == sorted(
        outputs.models
    )
    assert outputs.models.member_0.filename == 'tc_0.pth'
    assert node.inputs.lam_model.filename == 'seed_se_e2_a.pth'  # the shipped LAM by default

    # the learning curve of each member (MAE in K) falls; validation errors are shown too
    for member in ('member_0', 'member_1'):
        curve = outputs.learning_curves[member]
        assert 'mae_val' in curve.base.attributes.get('columns')
        assert curve.get_array('step')[-1] == 200
        mae = curve.get_array('mae_trn')
        assert np.all(np.isfinite(mae)) and mae[-3:].mean() < mae[:3].mean(), mae

    summary = outputs.summary.get_dict()
    assert summary['mode'] == 'finetune' and summary['ensemble_size'] == 2 and summary['type_map'] == ['H', 'Ca', 'Y']
    labels = np.array([r.tc_k for r in train.get_records()])
    assert summary['training_mae_K'] < np.mean(np.abs(labels - labels.mean()))  # better than the mean
    assert len(summary['training_member_mae_K']) == 2
    validation_output = outputs.validation.get_dict()
    assert validation_output['nrecords'] == 2 and np.isfinite(validation_output['mae_K'])
    assert set(validation_output['predictions']) == set(VALIDATION)
    assert validation_output['mean_spread_K'] > 0  # two members with different seeds disagree

    # predict a group of candidates and store the results as extras
    group, _ = orm.Group.collection.get_or_create(label=f'tests/tc_model/predict/{node.uuid}')
    structures = [orm.StructureData(ase=dataset_entry(name).build()).store() for name in PREDICT]
    group.add_nodes(structures)
    predicted = predict_group(group, node, code=dp_code)
    assert predicted.is_finished_ok
    members = predicted.outputs.predictions.get_dict()['predictions']
    assert len(members) == 3
    uuids = sorted(model.uuid for model in outputs.models.values())
    for structure in structures:
        extra = get_tags(orm.load_node(structure.pk))['tc_model']
        assert set(extra) >= {'tc_mean_K', 'tc_spread_K', 'model_uuids', 'tc_formula', 'mu_star'}
        assert np.isfinite(extra['tc_mean_K']) and extra['tc_spread_K'] >= 0
        assert sorted(extra['model_uuids']) == uuids
        assert extra['tc_formula'] == 'allen_dynes' and extra['mu_star'] == pytest.approx(0.13)
    # the training job's prediction of YH3 and the prediction job's agree (same models, same structure)
    yh3 = get_tags(orm.load_node(structures[2].pk))['tc_model']['tc_mean_K']
    query = orm.QueryBuilder().append(
        orm.StructureData, filters={'extras.hydrides.tc_model.tc_mean_K': {'>': -1e9}, 'id': structures[2].pk}
    )
    assert query.count() == 1
    assert np.isfinite(yh3)


# --------------------------------------------------------------------------------------------------------------------
# the training parser on damaged or missing outputs (no DeePMD run)

LCURVE = """# step        mae_val       mae_trn      rmse_val      rmse_trn   lr
      1      3.0e+01       4.0e+01       3.1e+01       4.1e+01   1.0e-03
     10      2.0e+01       2.5e+01       2.1e+01       2.6e+01   5.0e-04
"""


def _steps(members=2):
    from aiida_hydrides.core.tc_model import training

    settings = training.TcModelSettings(ensemble_size=members)
    return training.training_steps(settings, 'lam.pth', ['predict_input.json', 'predictions.json'])


def _good_files(members=2):
    retrieved = {'convert.log': b'hydrides: checkpoint written: lam.pth as lam.pt\n', 'predict.log': b''}
    temporary = {}
    for member in range(members):
        retrieved[f'lcurve_{member}.out'] = LCURVE.encode()
        retrieved[f'train_{member}.log'] = b'done\n'
        retrieved[f'freeze_{member}.log'] = b'done\n'
        temporary[f'tc_{member}.pth'] = b'PK frozen'
    names = list(TRAIN) + list(VALIDATION)
    predictions = {name: [100.0 + i, 102.0 + i] for i, name in enumerate(names)}
    retrieved['predictions.json'] = json.dumps({'predictions': predictions}).encode()
    return retrieved, temporary


def _parse(aiida_localhost, tmp_path, tc_sets, retrieved_files, temporary_files):
    from aiida.common.links import LinkType

    from aiida_hydrides.core.tc_model import predict
    from aiida_hydrides.parsers.tc_model_train import TcModelTrainParser

    node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:hydrides.tc_model.train')
    node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
    node.base.repository.put_object_from_bytes(predict.steps_json(_steps()).encode(), predict.STEPS_FILE)
    train, validation = tc_sets
    node.base.links.add_incoming(train, link_type=LinkType.INPUT_CALC, link_label='records')
    node.base.links.add_incoming(validation, link_type=LinkType.INPUT_CALC, link_label='validation_records')
    node.store()
    retrieved = orm.FolderData()
    for name, content in retrieved_files.items():
        retrieved.base.repository.put_object_from_bytes(content, name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    temporary = tmp_path / 'temporary'
    temporary.mkdir()
    for name, content in temporary_files.items():
        (temporary / name).write_bytes(content)
    return TcModelTrainParser.parse_from_node(node, store_provenance=False, retrieved_temporary_folder=str(temporary))


def test_parser_good_files(aiida_localhost, tmp_path, tc_sets):
    results, calcfunction = _parse(aiida_localhost, tmp_path, tc_sets, *_good_files())
    assert calcfunction.exit_status == 0, calcfunction.exit_message
    assert sorted(results['models']) == ['member_0', 'member_1']
    validation = results['validation'].get_dict()
    assert validation['nrecords'] == 2 and validation['mean_spread_K'] == pytest.approx(1.0)
    name = VALIDATION[0]
    assert validation['predictions'][name]['tc_mean_K'] == pytest.approx(101.0 + len(TRAIN))
    summary = results['summary'].get_dict()
    assert summary['ensemble_size'] == 2 and np.isfinite(summary['training_mae_K'])


@pytest.mark.parametrize(
    'damage, status, text',
    [
        (lambda r, t: r.update({'convert.log': b'Traceback\nRuntimeError: not a model\n'}), 303, 'not a model'),
        (lambda r, t: r.pop('lcurve_1.out'), 300, 'member 1'),
        (lambda r, t: r.update({'lcurve_0.out': b'1 2 3\n'}), 301, 'member 0'),
        (lambda r, t: t.pop('tc_0.pth'), 302, 'member 0'),
        (lambda r, t: r.pop('predictions.json'), 420, 'prediction'),
    ],
)
def test_parser_damaged_files(aiida_localhost, tmp_path, tc_sets, damage, status, text):
    retrieved, temporary = _good_files()
    damage(retrieved, temporary)
    results, calcfunction = _parse(aiida_localhost, tmp_path, tc_sets, retrieved, temporary)
    assert calcfunction.exit_status == status and text in calcfunction.exit_message
    if status == 420:
        assert sorted(results['models']) == ['member_0', 'member_1'] and 'summary' in results


def test_dry_run_of_a_multitask_model(aiida_profile, dp_code, tc_sets, tmp_path, monkeypatch):
    """A multi-task model: the LAM's energy data beside the Tc data, two heads on one descriptor, frozen with --head tc
    (trained for real by hand, docs/tc_model.md)."""
    from aiida_hydrides.calculations.tc_model_train import default_lam_model
    from aiida_hydrides.data.training_set import training_set_from_pieces

    monkeypatch.chdir(tmp_path)
    train, _ = tc_sets
    energy = training_set_from_pieces(pieces=['piece-001'], heldout=False).store()
    builder = _builder(dp_code, train, settings={**SETTINGS, 'multitask': True}, ensemble_size=1)
    builder.energy_set = energy
    builder.lam_model = default_lam_model()
    builder.metadata.dry_run = True
    builder.metadata.store_provenance = False
    _, node = run_get_node(builder)
    folder = pathlib.Path(node.dry_run_info['folder'])
    config = json.loads((folder / 'member_0' / 'input.json').read_text())
    assert set(config['model']['model_dict']) == {'energy', 'tc'}
    assert config['training']['data_dict']['energy']['training_data']['systems'] == 'energy_training'
    assert (folder / 'energy_training').is_dir()
    steps = json.loads((folder / 'tc_steps.json').read_text())
    assert steps[1]['argv'][-2:] == ['--finetune', 'lam.pt'] and steps[2]['argv'][-2:] == ['--head', 'tc']
    with pytest.raises(ValueError, match='needs the LAM energy data'):
        run_get_node(_builder(dp_code, train, settings={**SETTINGS, 'multitask': True}))
