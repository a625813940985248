"""``ConcurrentLearningWorkChain`` (``hydrides.lam.concurrent``): the protocol and builder, the refusals of bad
inputs, and one real iteration end to end on a tiny system (marked slow): CaH2 searched at 150 and 250 GPa with the
tiny test model, the model deviation of an ensemble of 4 tiny models, 2 frames labelled by pw.x at tiny cutoffs, the 4
models retrained 200 steps on one thread each."""

import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import WorkflowFactory

from aiida_hydrides.core.errors import HydridesInputError

ROOT = pathlib.Path(__file__).resolve().parents[3]
TINY_MODEL = ROOT / 'tests' / 'data' / 'lam' / 'tiny_se_e2_a.pth'
SEED_DATA = ROOT / 'data' / 'seed'
#: a few high-symmetry space groups that PyXtal fills quickly
FAST_GROUPS = [139, 191, 221, 225, 229]
#: cheap DFT settings: a label set of their own (labels of other settings must not be mixed with the seed's)
TINY_DFT = {
    'label_set': 'test-tiny',
    'kpoints_distance': 1.0,
    'mpiprocs': 1,
    'pools': 1,
    'max_wallclock_seconds': 600,
    'parameters': {'SYSTEM': {'ecutwfc': 25.0, 'ecutrho': 200.0}, 'ELECTRONS': {'electron_maxstep': 80}},
}
#: one iteration at test size: a few relaxations of CaH2, every frame a candidate, 2 labels, 200 training steps
TINY_OVERRIDES = {
    'max_iterations': 1,
    'explore': {
        'compositions_per_job': 5,
        'parameters': {
            'budget': 2,
            'population': 2,
            'max_atoms': 3,
            'max_steps': 12,
            'fmax': 0.2,
            'stress_tol_gpa': 5.0,
            'trajectory_every': 4,
            'min_volume_fraction': 0.0,  # the tiny model compresses CaH2 too much: keep its relaxations usable
            'space_groups': FAST_GROUPS,
            'compress': False,
        },
        'options': {'max_wallclock_seconds': 600},
    },
    'select': {
        'parameters': {'f_trust_lo': 0.0, 'f_trust_hi': 1000.0, 'max_candidates': 2, 'compress': False, 'threads': 1},
        'options': {'max_wallclock_seconds': 600},
    },
    'label': {'max_concurrent': 2, 'settings': {'clean_workdir': False, 'max_iterations': 1}, 'dft': TINY_DFT},
    'train': {
        'threads': 1,
        'validation_fraction': 0.0,
        'parameters': {'steps': 200, 'training': {'disp_freq': 50, 'save_freq': 200}},
        'options': {'max_wallclock_seconds': 600},
    },
}


def _workchain():
    return WorkflowFactory('hydrides.lam.concurrent')


def _training_set(label_set='test-tiny', pieces=('piece-001',)):
    """The seed frames of a few pieces without their held-out frames, under ``label_set``."""
    from aiida_hydrides.core.lam.dataset import TrainingSet
    from aiida_hydrides.data.training_set import TrainingSetData

    return TrainingSetData(TrainingSet.from_pieces(SEED_DATA, pieces=list(pieces), heldout=False, label_set=label_set))


@pytest.fixture
def fake_lam_codes(aiida_code_installed, fake_codes):
    """hydrides-lam, dp and pw.x codes for the builder tests (never executed)."""
    lam = aiida_code_installed(label='cl-test-lam', default_calc_job_plugin='hydrides.search')
    dp = aiida_code_installed(label='cl-test-dp', default_calc_job_plugin='hydrides.lam.train')
    return lam, dp, fake_codes['pw']


# ----------------------------------------------------------------------------------------------------------------------
# the rules of the loop (pure Python)


def test_stage_decisions():
    from aiida_hydrides.core.lam.concurrent import stage_decision

    stages = ['trajectory', 'minima']
    assert stage_decision('trajectory', {'candidate': 0.2}, 0.05, stages) == ('label', 'trajectory')
    assert stage_decision('trajectory', {'candidate': 0.01}, 0.05, stages) == ('next_stage', 'minima')
    assert stage_decision('minima', {'candidate': 0.05}, 0.05, stages) == ('label', 'minima')
    assert stage_decision('minima', {'candidate': 0.049}, 0.05, stages) == ('converged', None)
    assert stage_decision('minima', {}, 0.05, ['minima']) == ('converged', None)
    with pytest.raises(HydridesInputError, match='not one of'):
        stage_decision('minima', {}, 0.05, ['trajectory'])


@pytest.mark.parametrize(
    'arguments, match',
    [
        ((0, 0.05, 4, ['trajectory']), 'max_iterations must be a whole number >= 1'),
        ((2, 0.0, 4, ['trajectory']), 'candidate_threshold'),
        ((2, 1.5, 4, ['trajectory']), 'candidate_threshold'),
        ((2, 0.05, 1, ['trajectory']), 'ensemble_size must be a whole number >= 2'),
        ((2, 0.05, 4, []), 'at least one stage'),
        ((2, 0.05, 4, ['relaxed']), r"unknown stages \['relaxed'\]"),
        ((2, 0.05, 4, ['minima', 'minima']), 'repeated'),
        ((2, 0.05, 4, ['minima'], 'restart'), 'retraining mode'),
    ],
)
def test_loop_settings_refused(arguments, match):
    from aiida_hydrides.core.lam.concurrent import check_loop_settings

    with pytest.raises(HydridesInputError, match=match):
        check_loop_settings(*arguments)


def test_seeds_sources_and_pressures():
    from aiida_hydrides.core.lam.concurrent import member_seed, search_seed, source_key
    from aiida_hydrides.core.units import InvalidPressureError, parse_pressures

    seeds = {search_seed(0, iteration, index, batch) for iteration in (1, 2) for index in range(3) for batch in (0, 1)}
    assert len(seeds) == 12  # every iteration, pressure and batch explores with its own seed
    assert len({member_seed(7, member, 3) for member in range(4)}) == 4
    assert source_key(172.5, 1, 'iteration_02') == 'p172_5_b1_iteration_02' and source_key(150, 0) == 'p150_b0'
    assert parse_pressures('150-250') == [150.0, 200.0, 250.0]
    assert parse_pressures('150-250', 5) == [150.0, 175.0, 200.0, 225.0, 250.0]
    assert parse_pressures('1.5Mbar:2.5Mbar', 2) == [150.0, 250.0]
    assert parse_pressures('250,150') == [150.0, 250.0] and parse_pressures(200) == [200.0]
    for bad, match in (('250-150', 'reversed'), ('150-2500', 'between 0 and 1000'), ('GPa', 'cannot read')):
        with pytest.raises(InvalidPressureError, match=match):
            parse_pressures(bad)


def test_iteration_summary_history():
    from aiida_hydrides.core.lam.concurrent import append_iteration, iteration_record

    deviation = {'n_frames': 40, 'counts': {'accurate': 30, 'candidate': 8, 'failed': 2}, 'n_chosen': 5}
    deviation['shares'] = {'accurate': 0.75, 'candidate': 0.2, 'failed': 0.05}
    record = iteration_record(
        1,
        'trajectory',
        {'trajectory': deviation},
        {'trajectory': 'label'},
        labels={'n_candidates': 5, 'n_labelled': 4, 'n_failed': 1, 'pw_wall_hours': 0.5},
        training={'m0': {'steps': 200, 'mode': 'init', 'final': {'rmse_f_trn': 0.3}}},
        validation={'m0': {'force_rmse_mev_per_angstrom': 310.0}},
        threshold=0.05,
    )
    assert record['stages']['trajectory']['shares']['candidate'] == 0.2 and record['labelled'] == 4
    assert record['models']['m0']['validation']['force_rmse_mev_per_angstrom'] == 310.0
    assert record['models']['m0']['final_rmse_f_trn'] == 0.3 and record['converged'] is False
    first = append_iteration(None, record, 'trajectory')
    second = append_iteration(first, {**record, 'iteration': 2}, 'minima')
    assert [entry['iteration'] for entry in second['iterations']] == [1, 2]
    assert second['stage'] == 'minima' and second['shares']['2']['trajectory']['candidate'] == 0.2


def test_summary_calcfunction(aiida_profile):
    """The iteration summary from the deviation, training and validation outputs, appended to the previous one."""
    from aiida_hydrides.calculations.functions.lam_concurrent import summarize_iteration

    deviation = orm.Dict(
        {
            'n_frames': 10,
            'counts': {'accurate': 9, 'candidate': 1, 'failed': 0},
            'n_chosen': 1,
            'shares': {'accurate': 0.9, 'candidate': 0.1, 'failed': 0.0},
        }
    )
    info = {
        'iteration': 3,
        'stage': 'minima',
        'decisions': {'trajectory': 'next_stage', 'minima': 'label'},
        'next_stage': 'minima',
        'threshold': 0.05,
        'labels': {'n_labelled': 1, 'pw_wall_hours': 0.2},
    }
    previous = orm.Dict({'iteration': 2, 'stage': 'trajectory', 'iterations': [{'iteration': 2, 'stages': {}}]})
    summary = summarize_iteration(
        orm.Dict(info),
        previous=previous,
        deviation_trajectory=deviation,
        deviation_minima=deviation,
        train_m0=orm.Dict({'steps': 100, 'mode': 'init', 'final': {'rmse_f_trn': 0.2}}),
        validation_m0=orm.Dict({'force_rmse_mev_per_angstrom': 150.0}),
    ).get_dict()
    assert summary['iteration'] == 3 and summary['stage'] == 'minima' and len(summary['iterations']) == 2
    record = summary['iterations'][-1]
    assert record['stages']['trajectory']['decision'] == 'next_stage' and record['labelled'] == 1
    assert record['models']['m0']['validation']['force_rmse_mev_per_angstrom'] == 150.0
    assert summary['shares']['3']['minima'] == {'accurate': 0.9, 'candidate': 0.1, 'failed': 0.0}


def test_grown_set_refuses_bad_inputs(aiida_profile):
    from aiida_hydrides.calculations.functions.lam_concurrent import add_labelled_frames

    _, node = add_labelled_frames.run_get_node(_training_set(), orm.List(['x-0000']), orm.Str('test-tiny'))
    assert node.exit_status == 300 and 'expected the three inputs' in node.exit_message


# ----------------------------------------------------------------------------------------------------------------------
# protocol and builder


@pytest.mark.parametrize('protocol', ['fast', 'moderate', 'precise'])
def test_builder_from_protocol(aiida_profile, fake_lam_codes, protocol):
    lam, dp, pw = fake_lam_codes
    training = _training_set('seed-v1')
    builder = _workchain().get_builder_from_protocol(
        lam, dp, pw, 'Ca-Y', '150-250', models=[TINY_MODEL], training_set=training, protocol=protocol
    )
    inputs = _workchain().get_protocol_inputs(protocol)
    assert builder.pressures.get_list() == [150.0, 200.0, 250.0]
    assert list(builder.models) == ['m0'] and builder.models['m0'].filename == 'tiny_se_e2_a.pth'
    assert builder.ensemble_size.value == 4 and builder.stages.get_list() == ['trajectory', 'minima']
    assert builder.max_iterations.value == inputs['max_iterations']
    assert builder.explore.parameters['trajectory_every'] > 0
    assert builder.select.parameters['max_candidates'] == inputs['select']['parameters']['max_candidates']
    assert builder.train.mode.value == 'init' and builder.train.threads.value == 1
    settings = builder.label.settings.get_dict()
    assert settings['label_set'] == 'seed-v1' and settings['dft']['parameters']['SYSTEM']['ecutwfc'] == 45.0
    assert 'compositions' not in builder and 'previous_summary' not in builder


def test_builder_overrides(aiida_profile, fake_lam_codes):
    lam, dp, pw = fake_lam_codes
    workchain = _workchain()
    builder = workchain.get_builder_from_protocol(
        lam,
        dp,
        pw,
        'Ca-Y',
        [200, '2500kbar'],
        models={'a': TINY_MODEL, 'b': orm.SinglefileData(TINY_MODEL)},
        training_set=_training_set(),
        compositions=['CaH6'],
        overrides=TINY_OVERRIDES,
        options={'label': {'queue_name': 'debug'}},
    )
    assert builder.pressures.get_list() == [200.0, 250.0] and builder.compositions.get_list() == ['CaH6']
    assert sorted(builder.models) == ['a', 'b']
    assert builder.label.settings['label_set'] == 'test-tiny' and builder.label.settings['dft']['mpiprocs'] == 1
    assert builder.label.settings['dft']['parameters']['SYSTEM']['ecutrho'] == 200.0
    assert builder.label.settings['dft']['parameters']['CONTROL']['tstress'] is True  # merged, not replaced
    assert builder.label.options == {'queue_name': 'debug'}
    assert builder.train.parameters['steps'] == 200
    assert builder.train.parameters['learning_rate']['start_lr'] == 1.0e-4  # the protocol's, kept

    with pytest.raises(ValueError, match='unknown override key `explore.budget`'):
        workchain.get_builder_from_protocol(
            lam, dp, pw, 'Ca-Y', 200, models=[TINY_MODEL], overrides={'explore': {'budget': 3}}
        )
    with pytest.raises(ValueError, match='new label_set name'):
        workchain.get_builder_from_protocol(
            lam, dp, pw, 'Ca-Y', 200, models=[TINY_MODEL], overrides={'label': {'dft': {'kpoints_distance': 0.3}}}
        )
    with pytest.raises(ValueError, match='reversed'):
        workchain.get_builder_from_protocol(lam, dp, pw, 'Ca-Y', '250-150', models=[TINY_MODEL])
    with pytest.raises(ValueError, match='unknown parts'):
        workchain.get_builder_from_protocol(lam, dp, pw, 'Ca-Y', 200, models=[TINY_MODEL], options={'dft': {}})
    with pytest.raises(ValueError, match='does not exist'):
        workchain.get_builder_from_protocol(lam, dp, pw, 'Ca-Y', 200, models=['missing.pth'])
    node = orm.WorkflowNode().store()
    with pytest.raises(ValueError, match='not a hydrides.lam.concurrent run'):
        workchain.get_builder_from_protocol(lam, dp, pw, parent=node)


# ----------------------------------------------------------------------------------------------------------------------
# refusals: at the ports (nothing stored) and in the first step (exit codes 2xx, nothing launched)


def _builder(codes, training=None, **overrides):
    lam, dp, pw = codes
    merged = {**TINY_OVERRIDES, **overrides}
    return _workchain().get_builder_from_protocol(
        lam,
        dp,
        pw,
        'Ca-Y',
        '150-250',
        models=[TINY_MODEL],
        training_set=training or _training_set(),
        compositions=['CaH2'],
        overrides=merged,
    )


@pytest.mark.parametrize(
    'change, match',
    [
        (lambda b: setattr(b, 'pressures', orm.List([150.0, 1500.0])), 'between 0 and 1000 GPa'),
        (lambda b: setattr(b, 'stages', orm.List(['minima', 'relaxed'])), "unknown stages ['relaxed']"),
        (lambda b: setattr(b, 'ensemble_size', orm.Int(1)), 'at least 2 models'),
        (lambda b: setattr(b, 'candidate_threshold', orm.Float(0.0)), 'must be in (0, 1]'),
        (lambda b: setattr(b.select, 'parameters', orm.Dict({'frames': 'both'})), 'frames is set by the stage'),
        (lambda b: setattr(b.select, 'parameters', orm.Dict({'f_trust_lo': 0.4, 'f_trust_hi': 0.3})), 'trust window'),
        (lambda b: setattr(b.explore, 'parameters', orm.Dict({'seed': 3})), 'set by the work chain'),
        (lambda b: setattr(b.explore, 'parameters', orm.Dict({'budget': 0})), 'budget'),
        (lambda b: setattr(b.train, 'parameters', orm.Dict({'seed': 3})), 'seed is set per member'),
        (lambda b: setattr(b.train, 'mode', orm.Str('restart')), 'retraining mode'),
        (lambda b: setattr(b, 'models', {'m0': orm.SinglefileData(__file__)}), 'must end in one of'),
    ],
)
def test_port_refusals(aiida_profile, fake_lam_codes, change, match):
    builder = _builder(fake_lam_codes)
    with pytest.raises(ValueError) as error:
        change(builder)
        run_get_node(builder)
    assert match in str(error.value)


@pytest.mark.parametrize(
    'case, status, match',
    [
        ('system', 201, "unknown element symbol 'Q'"),
        ('model', 202, 'does not know La'),
        ('label_set', 203, "labels come from the DFT settings 'seed-v1'"),
        ('family', 204, 'no-such-family'),
        ('trajectory', 205, 'trajectory_every > 0'),
        ('finetune', 202, 'finetune starts from checkpoints'),
    ],
)
def test_setup_refusals(aiida_profile, fake_lam_codes, case, status, match):
    """Inputs that are valid one by one but not together: the first step stops with an exit code naming them, and
    launches nothing."""
    builder = _builder(fake_lam_codes, training=_training_set('seed-v1') if case == 'label_set' else None)
    if case == 'system':
        builder.system = orm.Str('Ca-Q')
    elif case == 'model':
        builder.system = orm.Str('Ca-La')
        builder.compositions = orm.List(['LaH2'])
    elif case == 'family':
        settings = builder.label.settings.get_dict()
        settings['dft']['pseudo_family'] = 'no-such-family'
        builder.label.settings = orm.Dict(settings)
    elif case == 'trajectory':
        builder.explore.parameters = orm.Dict({**builder.explore.parameters.get_dict(), 'trajectory_every': 0})
    elif case == 'finetune':
        builder.train.mode = orm.Str('finetune')
    _, node = run_get_node(builder)
    assert node.exit_status == status, node.exit_message
    assert match in node.exit_message
    assert not node.called


# ----------------------------------------------------------------------------------------------------------------------
# one real iteration


@pytest.fixture(scope='module')
def tiny_ensemble(tmp_path_factory):
    """The tiny test model and 3 copies with their fitting nets perturbed by 5 % (seeds 1, 2, 3): 4 models that
    disagree a little, made in a second (TorchScript, in a subprocess so that this process never loads torch)."""
    folder = tmp_path_factory.mktemp('ensemble')
    script = f"""
import deepmd.pt, torch
for k in (1, 2, 3):
    extra = {{'data_modifier.pth': ''}}
    model = torch.jit.load({str(TINY_MODEL)!r}, _extra_files=extra)
    generator = torch.Generator().manual_seed(k)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if 'fitting_net' in name:
                parameter.add_(0.05 * parameter.abs().mean() * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    torch.jit.save(model, {str(folder)!r} + f'/tiny_m{{k}}.pth', _extra_files=extra)
"""
    subprocess.run([sys.executable, '-c', script], check=True, capture_output=True, timeout=300)
    return [TINY_MODEL, *(folder / f'tiny_m{k}.pth' for k in (1, 2, 3))]


@pytest.fixture
def real_codes(aiida_localhost, require_qe):
    from aiida_hydrides.codes import ensure_codes, ensure_dp_code, ensure_lam_code

    aiida_localhost.set_minimum_job_poll_interval(1.0)  # the default 10 s would dominate these short jobs
    pw = ensure_codes(computer=aiida_localhost, mpiprocs=1, shorts=['pw'])['pw']
    return ensure_lam_code(aiida_localhost), ensure_dp_code(aiida_localhost), pw


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_one_iteration_end_to_end(real_codes, pseudo_family, tiny_ensemble):
    lam, dp, pw = real_codes
    training = _training_set()
    start = time.monotonic()
    builder = _workchain().get_builder_from_protocol(
        lam,
        dp,
        pw,
        'Ca-Y',
        '150-250',
        models=tiny_ensemble,
        training_set=training,
        compositions=['CaH2'],
        overrides={**TINY_OVERRIDES, 'pressure_points': 2},
    )
    _, node = run_get_node(builder)
    elapsed = time.monotonic() - start
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    print(f'one iteration in {elapsed:.0f} s')

    outputs = node.outputs
    summary = outputs.summary.get_dict()
    assert summary['iteration'] == 1 and summary['converged'] is False and summary['stage'] == 'trajectory'
    record = summary['iterations'][0]
    trajectory = record['stages']['trajectory']
    assert trajectory['decision'] == 'label' and trajectory['n_frames'] > 2
    assert trajectory['shares']['candidate'] == 1.0  # a window from 0 to 1000 eV/A: every frame is a candidate
    assert set(trajectory['shares']) == {'accurate', 'candidate', 'failed'} and trajectory['n_chosen'] == 2
    assert record['labelled'] == 2 and record['label_failures'] == 0 and record['labels']['pw_wall_hours'] > 0
    assert sorted(record['models']) == ['m0', 'm1', 'm2', 'm3']
    # the labelled frames against the ensemble that chose them: its deviation and its true error
    calibration = record['deviation_vs_error']
    assert calibration['n_frames'] == 2 and calibration['trust_window_ev_per_angstrom'] == [0.0, 1000.0]
    assert [entry['frame_id'] for entry in calibration['records']] == ['cl-CaY-it01-0000', 'cl-CaY-it01-0001']
    for entry in calibration['records']:
        assert entry['max_devi_f'] > 0 and entry['m0']['max_force_error'] > 0 and np.isfinite(entry['devi_e'])
        assert entry['mean']['max_force_error'] >= 0 and np.isfinite(entry['m0']['energy_error'])
    assert calibration['m0']['force'] == {'spearman': None, 'pearson': None}  # 2 frames: no correlation
    for entry in record['models'].values():
        assert entry['steps'] == 200 and entry['mode'] == 'init' and entry['training_frames'] == training.nframes + 2
        assert np.isfinite(entry['final_rmse_f_trn']) and 'validation' not in entry  # no validation set: faster

    # the ensemble: 4 new models, retrained from the 4 given, with different seeds
    assert sorted(outputs.ensemble) == ['m0', 'm1', 'm2', 'm3']
    trainings = [child for child in node.called if child.process_type == 'aiida.calculations:hydrides.lam.train']
    assert len(trainings) == 4 and all(child.is_finished_ok for child in trainings)
    assert len({child.inputs.parameters['seed'] for child in trainings}) == 4
    parents = {child.inputs.parent_model.uuid for child in trainings}
    assert parents == {model.uuid for model in builder.models.values()}
    assert {outputs.ensemble[key].uuid for key in outputs.ensemble} == {c.outputs.model.uuid for c in trainings}

    # the training set grew by the 2 labelled frames, with their frame ids; every step is in the graph
    grown = outputs.training_set
    assert grown.nframes == training.nframes + 2 and grown.label_set == 'test-tiny'
    new_ids = [i for i in grown.get_training_set().frame_ids() if i.startswith('cl-CaY-it01-')]
    assert sorted(new_ids) == ['cl-CaY-it01-0000', 'cl-CaY-it01-0001']
    labels = {link.link_label for link in node.base.links.get_outgoing().all()}
    assert {'explore_it01_p150_b0', 'explore_it01_p250_b0', 'select_it01_trajectory', 'grow_it01'} <= labels
    assert {'summary_it01', 'train_it01_m0', 'label_cl_CaY_it01_0000', 'calibration_it01'} <= labels
    iteration = outputs.iterations.it01
    assert iteration.summary.uuid == outputs.summary.uuid and iteration.training_set.uuid == grown.uuid
    assert sorted(iteration.ensemble) == ['m0', 'm1', 'm2', 'm3']

    # a run that continues this one starts from its last ensemble, training set and summary
    following = _workchain().get_builder_from_protocol(lam, dp, pw, parent=node, overrides=TINY_OVERRIDES)
    assert following.system.value == 'Ca-Y' and following.pressures.get_list() == [150.0, 250.0]
    assert following.compositions.get_list() == ['CaH2'] and following.training_set.uuid == grown.uuid
    assert {key: model.uuid for key, model in following.models.items()} == {
        key: model.uuid for key, model in outputs.ensemble.items()
    }
    assert following.previous_summary.uuid == outputs.summary.uuid and sorted(following.checkpoints) == sorted(
        outputs.ensemble
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bootstrap_then_converged(real_codes, pseudo_family):
    """One model for an ensemble of 2: the second member is trained from it first (iteration 0); then every frame
    is below a wide trust window (accurate): the trajectory stage is converged, the minima of the same searches are
    evaluated at once, converged too, and the run stops without labelling or retraining."""
    lam, dp, pw = real_codes
    overrides = {
        **TINY_OVERRIDES,
        'ensemble_size': 2,
        'pressure_points': 1,
        'select': {'parameters': {'f_trust_lo': 500.0, 'f_trust_hi': 1000.0, 'compress': False, 'threads': 1}},
        'train': {**TINY_OVERRIDES['train'], 'bootstrap_parameters': {'steps': 100, 'training': {'disp_freq': 50}}},
    }
    builder = _workchain().get_builder_from_protocol(
        lam, dp, pw, 'Ca-Y', 200, models=[TINY_MODEL], training_set=_training_set(), compositions=['CaH2'],
        overrides=overrides,
    )  # fmt: skip
    _, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    summary = node.outputs.summary.get_dict()
    assert summary['converged'] is True and summary['stage'] is None and summary['iteration'] == 1
    record = summary['iterations'][0]
    assert record['stages']['trajectory']['decision'] == 'next_stage' and record['stage'] == 'minima'
    assert record['stages']['minima']['decision'] == 'converged' and record['labelled'] == 0
    assert record['stages']['trajectory']['shares']['accurate'] == 1.0 and record['models'] == {}
    assert 0 < record['stages']['minima']['n_frames'] < record['stages']['trajectory']['n_frames']
    deviations = [child for child in node.called if child.process_type == 'aiida.calculations:hydrides.lam.deviation']
    assert sorted(child.inputs.parameters['frames'] for child in deviations) == ['structures', 'trajectory']

    (training,) = [child for child in node.called if child.process_type == 'aiida.calculations:hydrides.lam.train']
    assert node.base.links.get_outgoing(node_class=type(training)).get_node_by_label('train_it00_m1').pk == training.pk
    assert training.inputs.mode.value == 'init' and training.inputs.parameters['steps'] == 100
    assert training.inputs.parent_model.uuid == builder.models['m0'].uuid
    ensemble = node.outputs.ensemble
    assert ensemble.m0.uuid == builder.models['m0'].uuid and ensemble.m1.uuid == training.outputs.model.uuid
    assert node.outputs.iterations.it00.ensemble.m1.uuid == ensemble.m1.uuid
    assert node.outputs.training_set.uuid == builder.training_set.uuid  # nothing labelled: the set is unchanged


# ----------------------------------------------------------------------------------------------------------------------
# a system that no model covers: from nothing


def test_builder_from_scratch(aiida_profile, fake_lam_codes):
    """Without models: the builder holds no models and no training set, the initial frames and the training from
    scratch of the protocol; models or a parent with from_scratch are refused."""
    lam, dp, pw = fake_lam_codes
    workchain = _workchain()
    builder = workchain.get_builder_from_protocol(lam, dp, pw, 'Li-Mg', '150-250', protocol='fast', from_scratch=True)
    assert 'models' not in builder or not builder.models
    assert 'training_set' not in builder or builder.training_set is None
    assert builder.initial.parameters['max_frames'] == 30 and builder.train.scratch_parameters['steps'] == 10000
    given = workchain.get_builder_from_protocol(
        lam, dp, pw, 'Ca-Y', 200, training_set=_training_set(), protocol='fast', from_scratch=True
    )
    assert given.training_set is not None and 'parameters' not in given.initial
    with pytest.raises(ValueError, match='starts without models'):
        workchain.get_builder_from_protocol(lam, dp, pw, 'Li-Mg', 200, models=[TINY_MODEL], from_scratch=True)


@pytest.mark.parametrize(
    'case, match',
    [
        ('models_without_set', 'give the training set the models were trained on'),
        ('set_lacks_elements', "lacks ['Li', 'Mg']"),
    ],
)
def test_from_scratch_refusals(aiida_profile, fake_lam_codes, case, match):
    lam, dp, pw = fake_lam_codes
    if case == 'models_without_set':
        builder = _builder(fake_lam_codes)
        del builder.training_set
    else:  # the Ca-Y-H seed frames cannot train models of Li-Mg-H
        builder = _workchain().get_builder_from_protocol(
            lam, dp, pw, 'Li-Mg', 200, training_set=_training_set(), overrides=TINY_OVERRIDES, from_scratch=True
        )
    _, node = run_get_node(builder)
    assert node.exit_status == 203 and match in node.exit_message
    assert not node.called


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_from_nothing(real_codes, pseudo_family):
    """Li-Mg, which no model covers: iteration 0 labels the first frames of LiH at 150 GPa (the rocksalt prototype
    and a random cell, each with a rattled copy) with pw.x into a new training set and trains 2 members from scratch
    on it; iteration 1 then explores with them (every frame accurate in a wide window: converged)."""
    lam, dp, pw = real_codes
    overrides = {
        **TINY_OVERRIDES,
        'ensemble_size': 2,
        'pressure_points': 1,
        'initial': {'parameters': {'random': 1, 'rattles': 1, 'max_atoms': 2, 'max_frames': 4}},
        'select': {'parameters': {'f_trust_lo': 500.0, 'f_trust_hi': 1000.0, 'compress': False, 'threads': 1}},
        'train': {
            **TINY_OVERRIDES['train'],
            'scratch_parameters': {
                'steps': 100,
                'descriptor': {'type': 'se_e2_a', 'sel': 'auto:1.5', 'rcut': 4.0, 'rcut_smth': 0.5,
                               'neuron': [4, 8], 'axis_neuron': 4},
                'fitting_net': {'neuron': [8, 8]},
                'training': {'disp_freq': 50, 'save_freq': 100},
            },
        },
    }  # fmt: skip
    builder = _workchain().get_builder_from_protocol(
        lam, dp, pw, 'Li-Mg', 150, compositions=['LiH'], overrides=overrides, from_scratch=True
    )
    _, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    summary = node.outputs.summary.get_dict()
    initial, first = summary['iterations']
    assert initial['iteration'] == 0 and initial['stage'] == 'initial' and initial['stages'] == {}
    assert initial['labelled'] == 4 and initial['labels']['pw_wall_hours'] > 0
    assert 'deviation_vs_error' not in initial  # the first frames were chosen by no ensemble
    assert sorted(initial['models']) == ['m0', 'm1']
    assert all(entry['mode'] is None or entry['mode'] == 'scratch' for entry in initial['models'].values())
    assert first['iteration'] == 1 and summary['converged'] is True

    frames = node.base.links.get_outgoing().get_node_by_label('initial_frames').outputs.frames
    assert sorted(set(frames.get_array('origin'))) == ['prototype', 'random'] and len(frames.get_array('formula')) == 4
    started = node.outputs.iterations.it00.training_set
    assert started.nframes == 4 and started.type_map == ['H', 'Li', 'Mg'] and started.label_set == 'test-tiny'
    assert sorted(started.get_training_set().frame_ids()) == [f'cl-LiMg-it00-000{k}' for k in range(4)]
    trainings = [child for child in node.called if child.process_type == 'aiida.calculations:hydrides.lam.train']
    assert len(trainings) == 2 and all('parent_model' not in child.inputs for child in trainings)
    assert len({child.inputs.parameters['seed'] for child in trainings}) == 2
    assert {node.outputs.ensemble[key].uuid for key in node.outputs.ensemble} == {
        child.outputs.model.uuid for child in trainings
    }
    assert node.outputs.training_set.uuid == started.uuid  # iteration 1 converged: nothing labelled


def _pretrained_multitask(folder, training) -> pathlib.Path:
    """A tiny two-head pretrained checkpoint (heads 'alpha' and 'beta' on one se_e2_a descriptor), trained 20 steps
    on ``training`` by ``dp --pt train``: what `dp pretrained download` gives, at test size."""
    import json
    import os

    training.get_training_set().write_npy(folder / 'training')
    descriptor = {'type': 'se_e2_a', 'sel': [64, 16, 16], 'rcut': 4.0, 'rcut_smth': 0.5, 'neuron': [4, 8],
                  'axis_neuron': 4, 'type_one_side': True, 'seed': 1}  # fmt: skip
    data = {'training_data': {'systems': 'training', 'batch_size': 'auto'}}
    config = {
        'model': {
            'shared_dict': {'tm': ['H', 'Ca', 'Y'], 'desc': descriptor},
            'model_dict': {
                'alpha': {'type_map': 'tm', 'descriptor': 'desc', 'fitting_net': {'neuron': [16, 16], 'seed': 1}},
                'beta': {'type_map': 'tm', 'descriptor': 'desc', 'fitting_net': {'neuron': [8, 8], 'seed': 2}},
            },
        },
        'learning_rate': {'type': 'exp', 'start_lr': 1.0e-3, 'stop_lr': 1.0e-4, 'decay_steps': 10},
        'loss_dict': {'alpha': {'type': 'ener'}, 'beta': {'type': 'ener'}},
        'training': {
            'model_prob': {'alpha': 1.0, 'beta': 1.0},
            'data_dict': {'alpha': data, 'beta': data},
            'numb_steps': 20,
            'seed': 1,
            'disp_freq': 20,
            'save_freq': 20,
        },
    }
    (folder / 'multi.json').write_text(json.dumps(config))
    env = dict(
        os.environ, OMP_NUM_THREADS='1', DP_INTRA_OP_PARALLELISM_THREADS='1', DP_INTER_OP_PARALLELISM_THREADS='1'
    )
    dp = pathlib.Path(sys.executable).with_name('dp')
    process = subprocess.run(
        [str(dp), '--pt', 'train', 'multi.json'], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return folder / 'model.ckpt.pt'


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pretrained_multihead(real_codes, pseudo_family, tmp_path):
    """The route of a pretrained multi-head model (the study's pretrained DPA, here a tiny two-head checkpoint made in
    the test): a run without models fine-tunes head 'beta' into every member on the training set, then iteration 1
    explores with them. A head the model lacks and a frozen file are refused before anything runs."""
    lam, dp, pw = real_codes
    training = _training_set()
    pretrained = _pretrained_multitask(tmp_path, training)
    overrides = {
        **TINY_OVERRIDES,
        'ensemble_size': 2,
        'pressure_points': 1,
        'stages': ['trajectory'],  # a model fine-tuned 30 steps relaxes nothing to a usable minimum
        'select': {'parameters': {'f_trust_lo': 500.0, 'f_trust_hi': 1000.0, 'compress': False, 'threads': 1}},
        'train': {**TINY_OVERRIDES['train'], 'parameters': {'steps': 30, 'training': {'disp_freq': 10}}},
    }
    workchain = _workchain()

    def builder_with(head, model=pretrained):
        return workchain.get_builder_from_protocol(
            lam, dp, pw, 'Ca-Y', 200, training_set=training, compositions=['CaH2'], overrides=overrides,
            pretrained=model, pretrained_head=head,
        )  # fmt: skip

    for head, model, match in (
        ('gamma', pretrained, "has no head 'gamma'"),
        (None, pretrained, "heads ['alpha', 'beta']: choose one"),
        (None, TINY_MODEL, 'needs the training checkpoint (.pt)'),
    ):
        _, refused = run_get_node(builder_with(head, model))
        assert refused.exit_status == 202 and match in refused.exit_message and not refused.called

    builder = builder_with('beta')
    _, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    trainings = [child for child in node.called if child.process_type == 'aiida.calculations:hydrides.lam.train']
    assert len(trainings) == 2
    for child in trainings:
        assert child.inputs.mode.value == 'finetune' and child.inputs.finetune_head.value == 'beta'
        assert child.inputs.parent_model.uuid == builder.pretrained_model.uuid
        assert "pretrained branch 'beta'" in child.outputs.retrieved.base.repository.get_object_content('train.log')
    summary = node.outputs.summary.get_dict()
    initial = summary['iterations'][0]
    assert initial['stage'] == 'initial' and initial['labelled'] == 0
    assert {entry['mode'] for entry in initial['models'].values()} == {'finetune'}
    assert summary['converged'] is True and node.outputs.training_set.uuid == training.uuid
