"""Parser of :class:`~aiida_hydrides.calculations.tc_model_train.TcModelTrainCalculation`.

The order of the checks:

1. a frozen LAM that could not be converted to a checkpoint (no ``lam.pt``: ``convert.log`` has an error):
   ``ERROR_CONVERSION_FAILED`` (303);
2. per member: the learning curve (missing or empty: 300, or the scheduler's 110/120; unreadable: 301; non-finite
   training errors: 310), attached as ``learning_curves.member_<i>``; the frozen model (missing: 302), attached as
   ``models.member_<i>``;
3. the ensemble's predictions of the training and validation records (``predictions.json``): missing gives
   ``ERROR_PREDICTION_FAILED`` (420, the models are attached); else the training MAE goes into ``summary`` and the
   validation errors into ``validation``.
"""

from __future__ import annotations

import json

import numpy as np
from aiida import orm

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.training import diverged, log_error, read_lcurve, training_log_summary
from aiida_hydrides.core.tc_model import predict, training
from aiida_hydrides.core.tc_model.evaluation import mae
from aiida_hydrides.parsers.base import TrainingParser, _finite

__all__ = ('TcModelTrainParser',)


class TcModelTrainParser(TrainingParser):
    """Turn the files of a Tc training job into the ensemble's models, learning curves, validation and summary."""

    def parse(self, **kwargs):
        self.open_temporary(kwargs)
        names = set(self.retrieved.base.repository.list_object_names())
        steps = self._steps()
        members = sorted({int(a.split('_')[1].split('.')[0]) for a in names if a.startswith('lcurve_')})
        expected = [step for step in steps if step[0][:2] == ['--pt', 'train']]
        count = len(expected) or len(members)

        if training.CONVERT_LOG in names and any(step[0][0] == training.CONVERT for step in steps):
            text = self._text(training.CONVERT_LOG)
            if predict.CHECKPOINT_WRITTEN not in text:
                return self.exit_codes.ERROR_CONVERSION_FAILED.format(message=log_error(text))

        summary_members = []
        for member in range(count):
            files = training.member_files(member)
            if files['lcurve'] not in names or not self._text(files['lcurve']).strip():
                scheduler = self.scheduler_exit_code()
                if scheduler is not None:
                    return scheduler
                return self.exit_codes.ERROR_TRAINING_FAILED.format(
                    member=member, message=self._log_error(files['train_log'], names)
                )
            try:
                columns, rows = read_lcurve(self._text(files['lcurve']))
            except (HydridesInputError, ValueError) as exc:
                return self.exit_codes.ERROR_LEARNING_CURVE_UNREADABLE.format(member=member, message=str(exc))
            curve = orm.ArrayData()
            for index, name in enumerate(columns):
                curve.set_array(name, rows[:, index])
            curve.base.attributes.set('columns', list(columns))
            self.out(f'learning_curves.member_{member}', curve)
            bad = diverged(columns, rows)
            if bad:
                return self.exit_codes.ERROR_TRAINING_DIVERGED.format(member=member, columns=', '.join(bad))
            model = self._temporary_file(files['model'])
            if model is None:
                return self.exit_codes.ERROR_MODEL_MISSING.format(
                    member=member, message=self._log_error(files['freeze_log'], names)
                )
            self.out(f'models.member_{member}', orm.SinglefileData(model, filename=files['model']))
            log = self._text(files['train_log']) if files['train_log'] in names else ''
            summary_members.append(
                {
                    'last_step': int(rows[-1, columns.index('step')]) if 'step' in columns else None,
                    'final': {name: float(value) for name, value in zip(columns, rows[-1])},
                    **training_log_summary(log),
                }
            )

        summary = self._summary(summary_members)
        exit_code = None
        try:
            result = json.loads(self._text(training.PREDICT_OUTPUT))
            statistics = self._statistics(result)
        except (OSError, FileNotFoundError, ValueError, KeyError, HydridesInputError) as exc:
            message = self._log_error(training.PREDICT_LOG, names) if training.PREDICT_LOG in names else str(exc)
            exit_code = self.exit_codes.ERROR_PREDICTION_FAILED.format(message=message)
        else:
            summary.update(statistics['training'])
            if statistics.get('validation'):
                self.out('validation', orm.Dict(_finite(statistics['validation'])))
                summary['validation_mae_K'] = statistics['validation']['mae_K']
        self.out('summary', orm.Dict(_finite(summary)))
        return exit_code

    # ---------------------------------------------------------------------------------------------------------------

    def _statistics(self, result) -> dict:
        inputs = self.node.inputs
        out = {}
        for key, label in (('records', 'training'), ('validation_records', 'validation')):
            if key not in inputs:
                continue
            records = inputs[key].get_records()
            values = predict.read_predictions(result, [record.name for record in records])
            mean, spread = predict.ensemble_statistics(values)
            true = np.array([record.tc_k for record in records], dtype=float)
            if label == 'training':
                out[label] = {
                    'training_mae_K': mae(true, mean),
                    'training_member_mae_K': [mae(true, member) for member in values],
                    'training_mean_spread_K': float(np.mean(spread)),
                }
            else:
                out[label] = {
                    'mae_K': mae(true, mean),
                    'rmse_K': float(np.sqrt(np.mean((true - mean) ** 2))),
                    'member_mae_K': [mae(true, member) for member in values],
                    'mean_spread_K': float(np.mean(spread)),
                    'nrecords': len(records),
                    'predictions': {
                        record.name: {'tc_true_K': float(t), 'tc_mean_K': float(m), 'tc_spread_K': float(s)}
                        for record, t, m, s in zip(records, true, mean, spread)
                    },
                }
        return out

    def _summary(self, members) -> dict:
        inputs = self.node.inputs
        settings = {}
        try:
            config = json.loads(
                self.node.base.repository.get_object_content(
                    f'{training.member_dir(0)}/{training.INPUT_FILE}', mode='r'
                )
            )
        except (OSError, FileNotFoundError, ValueError):
            config = {}
        try:
            from aiida_hydrides.calculations.tc_model_train import _settings

            settings = _settings(inputs).to_dict()
        except HydridesInputError:
            pass
        model = config.get('model', {})
        if 'model_dict' in model:
            type_map = model.get('shared_dict', {}).get('type_map_all')
            descriptor = model.get('shared_dict', {}).get('shared_descriptor', {})
        else:
            type_map, descriptor = model.get('type_map'), model.get('descriptor', {})
        lam = inputs['lam_model'] if 'lam_model' in inputs else None
        return {
            'settings': settings,
            'mode': settings.get('mode'),
            'ensemble_size': len(members),
            'type_map': type_map,
            'descriptor': (descriptor or {}).get('type'),
            'lam_model': lam.filename if lam is not None else None,
            'lam_model_uuid': lam.uuid if lam is not None else None,
            'training_records': inputs['records'].nrecords,
            'validation_records': inputs['validation_records'].nrecords if 'validation_records' in inputs else 0,
            'members': [
                {**member, 'final': {k: (v if np.isfinite(v) else None) for k, v in member['final'].items()}}
                for member in members
            ],
        }

    def _steps(self) -> list:
        try:
            steps = json.loads(self.node.base.repository.get_object_content(predict.STEPS_FILE, mode='r'))
        except (OSError, FileNotFoundError, ValueError):
            return []
        return [(step['argv'], step['log']) for step in steps]
