"""Parser of :class:`~aiida_hydrides.calculations.tc_model_predict.TcModelPredictCalculation`: ``predictions.json``
(missing: 300 with the error of ``predict.log``, or the scheduler's 110/120; unreadable or incomplete: 301) turned
into ``predictions`` ``{key: {tc_mean_K, tc_spread_K, tc_members_K}}``."""

from __future__ import annotations

import json

from aiida import orm
from aiida.parsers import Parser

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.training import log_error
from aiida_hydrides.core.tc_model import predict, training
from aiida_hydrides.parsers.base import SCHEDULER_EXIT_CODES, _finite

__all__ = ('TcModelPredictParser',)


class TcModelPredictParser(Parser):
    """Turn the prediction file into the ``predictions`` Dict."""

    def parse(self, **kwargs):
        names = set(self.retrieved.base.repository.list_object_names())
        if training.PREDICT_OUTPUT not in names:
            status = self.node.exit_status
            for label in SCHEDULER_EXIT_CODES:
                if status is not None and status == self.exit_codes[label].status:
                    return self.exit_codes[label]
            message = (
                log_error(self.retrieved.base.repository.get_object_content(training.PREDICT_LOG, mode='r'))
                if training.PREDICT_LOG in names
                else f'no {training.PREDICT_LOG}'
            )
            return self.exit_codes.ERROR_PREDICTION_MISSING.format(message=message)
        keys = sorted(self.node.inputs.structures.keys())
        try:
            result = json.loads(self.retrieved.base.repository.get_object_content(training.PREDICT_OUTPUT, mode='r'))
            values = predict.read_predictions(result, keys)
            mean, spread = predict.ensemble_statistics(values)
        except (ValueError, KeyError, HydridesInputError) as exc:
            return self.exit_codes.ERROR_PREDICTION_UNREADABLE.format(message=str(exc))
        predictions = {
            key: {
                'tc_mean_K': float(mean[index]),
                'tc_spread_K': float(spread[index]),
                'tc_members_K': [float(v) for v in values[:, index]],
            }
            for index, key in enumerate(keys)
        }
        self.out(
            'predictions',
            orm.Dict(_finite({'predictions': predictions, 'models': sorted(self.node.inputs.models.keys())})),
        )
        return None
