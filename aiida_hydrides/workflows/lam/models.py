"""The DeePMD models of a profile, with their training data and errors (``aiida-hydrides models``).

A model trained here is the ``model`` output of a ``hydrides.lam.train`` job: its record names the job, how it was
trained (from scratch, continued or fine-tuned; steps), the training and validation sets (frames, label set), the
last training errors of the learning curve, the validation errors of ``dp test`` and, for a model of a
``hydrides.lam.concurrent`` run, the run, iteration and member. Model files that were only given to jobs (the seed
model, files from elsewhere) are listed with ``include_external``: their training is not in the profile.
"""

from __future__ import annotations

from aiida import orm

__all__ = ('list_models',)

TRAIN_PROCESS_TYPE = 'aiida.calculations:hydrides.lam.train'
CONCURRENT_PROCESS_TYPE = 'aiida.workflows:hydrides.lam.concurrent'
#: the model suffixes DeePMD reads
_SUFFIXES = ('.pth', '.pt', '.pb')


def _md5(node) -> str | None:
    import hashlib

    try:
        with node.open(mode='rb') as handle:
            return hashlib.md5(handle.read()).hexdigest()  # noqa: S324 - a file fingerprint, as the workers record it
    except OSError:
        return None


def _set_info(node) -> dict | None:
    if node is None:
        return None
    return {'pk': node.pk, 'nframes': node.nframes, 'label_set': node.label_set, 'systems': len(node.systems)}


def _run_of(calc) -> dict | None:
    """The ``hydrides.lam.concurrent`` run that trained ``calc``, with the iteration and member of the call link."""
    caller = calc.caller
    if caller is None or caller.process_type != CONCURRENT_PROCESS_TYPE:
        return None
    link = next(
        (
            entry
            for entry in caller.base.links.get_outgoing(node_class=orm.CalcJobNode).all()
            if entry.node.pk == calc.pk
        ),
        None,
    )
    label = link.link_label if link is not None else ''
    parts = label.split('_')  # train_it02_m1
    return {
        'pk': caller.pk,
        'system': caller.inputs.system.value if 'system' in caller.inputs else None,
        'iteration': parts[1] if len(parts) == 3 else None,
        'member': parts[2] if len(parts) == 3 else None,
    }


def _trained_record(calc) -> dict:
    model = calc.outputs.model
    summary = calc.outputs.summary.get_dict() if 'summary' in calc.outputs else {}
    final = summary.get('final') or {}
    validation = calc.outputs.validation_errors.get_dict() if 'validation_errors' in calc.outputs else None
    parent = calc.inputs.parent_model if 'parent_model' in calc.inputs else None
    return {
        'pk': model.pk,
        'uuid': model.uuid,
        'filename': model.filename,
        'md5': _md5(model),
        'created': model.ctime.isoformat(timespec='seconds'),
        'origin': 'trained',
        'training_job': calc.pk,
        'exit_status': calc.exit_status,
        'mode': summary.get('mode', 'scratch'),
        'steps': summary.get('steps'),
        'parent_model': parent.pk if parent is not None else None,
        'descriptor': summary.get('descriptor'),
        'type_map': summary.get('type_map'),
        'training_set': _set_info(calc.inputs.training_set if 'training_set' in calc.inputs else None),
        'validation_set': _set_info(calc.inputs.validation_set if 'validation_set' in calc.inputs else None),
        'training_errors': {
            key: final[key]
            for key in ('rmse_e_trn', 'rmse_f_trn', 'rmse_v_trn', 'rmse_e_val', 'rmse_f_val')
            if key in final
        },
        'validation_errors': validation,
        'run': _run_of(calc),
    }


def _external_records(known: set) -> list[dict]:
    """Model files given to jobs of this package but not created by one: the seed model, files from elsewhere."""
    users: dict[int, set] = {}
    nodes = {}
    query = orm.QueryBuilder()
    query.append(
        orm.SinglefileData,
        filters={'or': [{'attributes.filename': {'like': f'%{suffix}'}} for suffix in _SUFFIXES]},
        tag='model',
        project=['*'],
    )
    query.append(
        orm.CalcJobNode,
        with_incoming='model',
        filters={'process_type': {'like': 'aiida.calculations:hydrides.%'}},
        project=['id'],
    )
    for node, job in query.iterall():
        if node.pk in known or node.creator is not None:
            continue
        nodes[node.pk] = node
        users.setdefault(node.pk, set()).add(job)
    records = []
    for pk, node in nodes.items():
        records.append(
            {
                'pk': pk,
                'uuid': node.uuid,
                'filename': node.filename,
                'md5': _md5(node),
                'created': node.ctime.isoformat(timespec='seconds'),
                'origin': 'file',
                'jobs': len(users[pk]),
                'training_set': None,
                'validation_errors': None,
                'run': None,
            }
        )
    return records


def list_models(limit: int | None = None, system: str | None = None, include_external: bool = True) -> list[dict]:
    """The models of the loaded profile, newest first: every ``model`` output of a ``hydrides.lam.train`` job (see
    the module docstring for the record) and, with ``include_external``, the model files given to jobs of this
    package that no job made.

    :param limit: at most this many records (the newest).
    :param system: only the models of ``hydrides.lam.concurrent`` runs of this system (``'Ca-Y'``).
    """
    query = orm.QueryBuilder().append(
        orm.CalcJobNode,
        filters={'process_type': TRAIN_PROCESS_TYPE},
        tag='calc',
        project=['*'],
    )
    query.append(orm.SinglefileData, with_incoming='calc', edge_filters={'label': 'model'})
    query.order_by({'calc': {'ctime': 'desc'}})
    records = []
    for (calc,) in query.iterall():
        record = _trained_record(calc)
        if system is not None and (record['run'] or {}).get('system') != system:
            continue
        records.append(record)
    if include_external and system is None:
        records.extend(_external_records({record['pk'] for record in records}))
    records.sort(key=lambda record: record['created'], reverse=True)
    return records[:limit] if limit else records
