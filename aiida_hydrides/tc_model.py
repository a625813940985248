"""The Tc model in AiiDA: predict the Tc of a group of candidate structures with a trained ensemble and store the
result on each structure.

:func:`predict_group` runs ``hydrides.tc_model.predict`` on the ``StructureData`` of a group and tags every structure
(:func:`aiida_hydrides.extras.tag_node`) with::

    extras.hydrides.tc_model = {
        'tc_mean_K': ...,      # mean of the ensemble's predictions
        'tc_spread_K': ...,    # their standard deviation over the members (population)
        'model_uuids': [...],  # the UUIDs of the frozen members
        'tc_formula': ...,     # which Tc the model predicts: allen_dynes, mcmillan or eliashberg
        'mu_star': ...,        # for which μ*
        'predict_uuid': ...,   # the prediction job
    }

which the selection of candidates for electron-phonon calculations reads (``extras.hydrides.tc_model.tc_mean_K``,
``.tc_spread_K``). :func:`records_node` stores records (:class:`~aiida_hydrides.core.tc_model.records.TcRecord`) as the
``records`` input of ``hydrides.tc_model.train``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from aiida import orm

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.extras import tag_node

__all__ = (
    'TC_MODEL_EXTRA',
    'parse_tc_key',
    'predict_group',
    'prediction_builder',
    'records_node',
    'resolve_models',
    'store_predictions',
)

#: the key of the ``hydrides`` extra holding the Tc model's prediction
TC_MODEL_EXTRA = 'tc_model'
_TC_KEY = re.compile(r'^(?P<formula>[a-z_]+?)_mu(?P<mu>\d+(?:[._]\d+)?)$')


def parse_tc_key(tc_key: str) -> tuple[str, float]:
    """``('allen_dynes', 0.1)`` of ``allen_dynes_mu0_10`` (or ``allen_dynes_mu0.1``)."""
    match = _TC_KEY.match(str(tc_key))
    if not match:
        raise HydridesInputError(f'a Tc key is <formula>_mu<mu*> (e.g. allen_dynes_mu0_10), not {tc_key!r}')
    return match.group('formula'), float(match.group('mu').replace('_', '.'))


def records_node(records: Iterable, tc_key: str | None = None):
    """An unstored ``hydrides.tc_model.tc_set`` node of ``records`` (labels: ``tc_key``)."""
    from aiida_hydrides.data.tc_set import TcSetData

    return TcSetData(list(records), tc_key=tc_key)


def resolve_models(models) -> tuple[dict[str, orm.SinglefileData], str | None]:
    """The ensemble's model nodes by key, and the Tc key of its training labels when known, from a finished
    ``hydrides.tc_model.train`` node, its ``models`` output namespace, a mapping or a list of ``SinglefileData``."""
    tc_key = None
    if isinstance(models, orm.CalcJobNode):
        if not models.is_finished_ok:
            raise HydridesInputError(f'the training job {models.pk} did not finish ok ({models.exit_status})')
        records = models.inputs.records if 'records' in models.inputs else None
        tc_key = records.base.attributes.get('tc_key', None) if records is not None else None
        models = dict(models.outputs.models.items())
    if isinstance(models, Mapping):
        resolved = dict(models.items())
    else:
        resolved = {f'member_{index}': node for index, node in enumerate(models)}
    if not resolved:
        raise HydridesInputError('no Tc models given')
    for key, node in resolved.items():
        if not isinstance(node, orm.SinglefileData):
            raise HydridesInputError(f'model {key!r} is not a SinglefileData node but {type(node).__name__}')
    return resolved, tc_key


def predict_group(
    group: orm.Group | str,
    models,
    code: orm.AbstractCode | None = None,
    tc_formula: str | None = None,
    mu_star: float | None = None,
    options: Mapping | None = None,
) -> orm.CalcJobNode:
    """Predict the Tc of every ``StructureData`` of ``group`` with the ensemble ``models`` (:func:`resolve_models`)
    and store ``extras.hydrides.tc_model`` on each; returns the finished ``hydrides.tc_model.predict`` node.

    :param code: the ``dp`` code (default: :func:`aiida_hydrides.codes.ensure_dp_code` on ``localhost``).
    :param tc_formula: which Tc the model predicts; default from the training labels' Tc key (``allen_dynes_mu0_10``
        -> ``allen_dynes``) when ``models`` is a training node, else ``allen_dynes``.
    :param mu_star: for which μ*; default from the Tc key likewise (0.10 for ``allen_dynes_mu0_10``), else 0.10.
    :param options: ``metadata.options`` of the prediction job.
    :raises HydridesInputError: an empty group, no models, or a prediction job that failed.
    """
    from aiida.engine import run_get_node

    if isinstance(group, str):
        group = orm.load_group(group)
    structures = [node for node in group.nodes if isinstance(node, orm.StructureData)]
    if not structures:
        raise HydridesInputError(f'the group {group.label!r} holds no structures')
    builder, plan = prediction_builder(structures, models, code, tc_formula, mu_star, options)
    _, node = run_get_node(builder)
    store_predictions(node, plan)
    return node


def prediction_builder(structures, models, code=None, tc_formula=None, mu_star=None, options=None) -> tuple:
    """The builder of a ``hydrides.tc_model.predict`` job for ``structures`` with the ensemble ``models``, and the
    plan :func:`store_predictions` needs afterwards (the input key of each structure, the models, the Tc formula and
    μ* the model predicts). Arguments as :func:`predict_group`."""
    from aiida.plugins import CalculationFactory

    resolved, tc_key = resolve_models(models)
    if tc_key is not None:
        formula_default, mu_default = parse_tc_key(tc_key)
    else:
        formula_default, mu_default = 'allen_dynes', 0.10
    if code is None:
        from aiida_hydrides.codes import ensure_dp_code

        code = ensure_dp_code()
    builder = CalculationFactory('hydrides.tc_model.predict').get_builder()
    builder.code = code
    keys = {f'structure_{node.pk}': node for node in structures}
    builder.structures = keys
    builder.models = resolved
    for key, value in (options or {}).items():
        setattr(builder.metadata.options, key, value)
    plan = {
        'structures': {key: node.uuid for key, node in keys.items()},
        'model_uuids': [resolved[key].uuid for key in sorted(resolved)],
        'tc_formula': tc_formula or formula_default,
        'mu_star': float(mu_star if mu_star is not None else mu_default),
    }
    return builder, plan


def store_predictions(node, plan: dict) -> None:
    """Store ``extras.hydrides.tc_model`` on each structure of a finished ``hydrides.tc_model.predict`` job ``node``
    (``plan`` from :func:`prediction_builder`).

    :raises HydridesInputError: when the job failed.
    """
    if not node.is_finished_ok:
        raise HydridesInputError(
            f'the Tc prediction {node.pk} failed: exit status {node.exit_status}, {node.exit_message}'
        )
    predictions = node.outputs.predictions.get_dict()['predictions']
    for key, uuid in plan['structures'].items():
        value = predictions[key]
        tag_node(
            orm.load_node(uuid),
            **{
                TC_MODEL_EXTRA: {
                    'tc_mean_K': value['tc_mean_K'],
                    'tc_spread_K': value['tc_spread_K'],
                    'model_uuids': plan['model_uuids'],
                    'tc_formula': plan['tc_formula'],
                    'mu_star': plan['mu_star'],
                    'predict_uuid': node.uuid,
                }
            },
        )
