"""Parser of :class:`~aiida_hydrides.calculations.lam_train.LamTrainCalculation`.

The order of the checks:

1. ``lcurve.out``: missing or empty gives ``ERROR_TRAINING_FAILED`` (300) with DeePMD's error from ``train.log``, or the
   scheduler's own exit code (110 out of memory, 120 out of walltime) when one was reported; unreadable gives 301;
2. the learning curve is attached; non-finite training errors give ``ERROR_TRAINING_DIVERGED`` (310), a curve that
   stops short of the steps asked for ``ERROR_TRAINING_INCOMPLETE`` (303);
3. the frozen model (``model.pth``): missing gives ``ERROR_MODEL_MISSING`` (302) with the error of ``freeze.log``;
4. the model, the checkpoint and the summary are attached; then the compressed model (missing: 410, not critical)
   and the validation errors from ``dp test``'s detail files (missing: 420, not critical).
"""

from __future__ import annotations

import json

import numpy as np
from aiida import orm

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam import training
from aiida_hydrides.parsers.base import TrainingParser, _finite

__all__ = ('LamTrainParser',)


class LamTrainParser(TrainingParser):
    """Turn the files of a training job into the model, learning curve, validation errors and summary."""

    def parse(self, **kwargs):
        calc = self.node.process_class
        self.open_temporary(kwargs)
        names = set(self.retrieved.base.repository.list_object_names())

        if training.LCURVE_FILE not in names or not self._text(training.LCURVE_FILE).strip():
            scheduler = self.scheduler_exit_code()
            if scheduler is not None:
                return scheduler
            return self.exit_codes.ERROR_TRAINING_FAILED.format(message=self._log_error(calc.TRAIN_LOG, names))
        try:
            columns, rows = training.read_lcurve(self._text(training.LCURVE_FILE))
        except (HydridesInputError, ValueError) as exc:
            return self.exit_codes.ERROR_LEARNING_CURVE_UNREADABLE.format(message=str(exc))
        curve = orm.ArrayData()
        for index, name in enumerate(columns):
            curve.set_array(name, rows[:, index])
        curve.base.attributes.set('columns', list(columns))
        self.out('learning_curve', curve)

        bad = training.diverged(columns, rows)
        if bad:
            return self.exit_codes.ERROR_TRAINING_DIVERGED.format(columns=', '.join(bad))
        config = self._input_config()
        steps = int(config.get('training', {}).get('numb_steps', 0))
        disp = max(int(config.get('training', {}).get('disp_freq', 1)), 1)
        last_step = int(rows[-1, columns.index('step')]) if 'step' in columns else steps
        if steps and last_step < max(1, steps // disp * disp):  # DeePMD displays the multiples of disp_freq
            scheduler = self.scheduler_exit_code()
            if scheduler is not None:
                return scheduler
            return self.exit_codes.ERROR_TRAINING_INCOMPLETE.format(
                step=last_step, steps=steps, message=self._log_error(calc.TRAIN_LOG, names)
            )

        model = self._temporary_file(training.MODEL_FILE)
        if model is None:
            return self.exit_codes.ERROR_MODEL_MISSING.format(message=self._log_error(calc.FREEZE_LOG, names))
        self.out('model', orm.SinglefileData(model, filename=training.MODEL_FILE))
        checkpoint = self._temporary_file(training.CHECKPOINT_FILE)
        if checkpoint is not None:
            self.out('checkpoint', orm.SinglefileData(checkpoint, filename=training.CHECKPOINT_FILE))

        summary = self._summary(config, columns, rows, names, calc)
        exit_code = None
        if calc.COMPRESS_LOG in names:
            compressed = self._temporary_file(training.COMPRESSED_FILE)
            summary['compressed'] = compressed is not None
            if compressed is not None:
                self.out('compressed_model', orm.SinglefileData(compressed, filename=training.COMPRESSED_FILE))
            else:
                exit_code = self.exit_codes.ERROR_COMPRESSION_FAILED.format(
                    message=self._log_error(calc.COMPRESS_LOG, names)
                )
        else:
            summary['compressed'] = False
        if 'validation_set' in self.node.inputs or calc.TEST_LOG in names:
            try:
                metrics = training.test_metrics(self._temporary / training.DETAIL_PREFIX)
            except (HydridesInputError, ValueError, OSError, TypeError) as exc:
                message = self._log_error(calc.TEST_LOG, names) if calc.TEST_LOG in names else str(exc)
                exit_code = exit_code or self.exit_codes.ERROR_VALIDATION_FAILED.format(message=message)
            else:
                self.out('validation_errors', orm.Dict(_finite(metrics)))
                summary['validation'] = {
                    key: metrics[key] for key in ('energy_rmse_mev_per_atom', 'force_rmse_mev_per_angstrom')
                }
        self.out('summary', orm.Dict(_finite(summary)))
        return exit_code

    # ---------------------------------------------------------------------------------------------------------------

    def _input_config(self) -> dict:
        try:
            return json.loads(self.node.base.repository.get_object_content(training.INPUT_FILE, mode='r'))
        except (OSError, FileNotFoundError, ValueError):
            return {}

    def _summary(self, config, columns, rows, names, calc) -> dict:
        inputs = self.node.inputs
        model = config.get('model', {})
        log = self._text(calc.TRAIN_LOG) if calc.TRAIN_LOG in names else ''
        summary = {
            'steps': int(config.get('training', {}).get('numb_steps', 0)),
            'last_step': int(rows[-1, columns.index('step')]) if 'step' in columns else None,
            'mode': inputs['mode'].value if 'mode' in inputs else 'scratch',
            'parent_model': inputs['parent_model'].filename if 'parent_model' in inputs else None,
            'finetune_head': inputs['finetune_head'].value if 'finetune_head' in inputs else None,
            'type_map': model.get('type_map'),
            'descriptor': (model.get('descriptor') or {}).get('type'),
            'training_frames': inputs['training_set'].nframes if 'training_set' in inputs else None,
            'validation_frames': inputs['validation_set'].nframes if 'validation_set' in inputs else 0,
            'final': {name: float(value) for name, value in zip(columns, rows[-1])},
            **{f'training_{key}': value for key, value in training.training_log_summary(log).items()},
        }
        if calc.NORMALISED_INPUT in names:
            normalised = json.loads(self._text(calc.NORMALISED_INPUT))
            descriptor = normalised.get('model', {}).get('descriptor', {})
            summary['descriptor'] = descriptor.get('type', summary['descriptor'])
            summary['type_map'] = normalised.get('model', {}).get('type_map', summary['type_map'])
        summary['final'] = {key: (value if np.isfinite(value) else None) for key, value in summary['final'].items()}
        return summary
