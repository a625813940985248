"""Calcfunction ``hydrides.lam.split_training_set``: a deterministic training/validation split of a training set."""

from aiida.engine import ExitCode, calcfunction

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.dataset import DEFAULT_SPLIT_SALT

__all__ = ('split_training_set',)


@calcfunction
def split_training_set(training_set, fraction=None, salt=None):
    """Split ``training_set`` (a ``hydrides.lam.training_set`` node) into ``train`` and ``validation`` sets.

    A frame goes to the validation set when a hash of ``salt:frame id`` falls below ``fraction`` (default 0.1), so the
    split is reproducible and a frame keeps its side when frames are added to or removed from the set; a small set
    still gets one validation frame (:func:`aiida_hydrides.core.lam.dataset.split_ids`).

    :param training_set: the set to split.
    :param fraction: ``Float``, the validation share (0 to 1, default 0.1).
    :param salt: ``Str``, the salt of the hash (default ``aiida-hydrides-validation``).
    :return: ``train`` and ``validation`` (``hydrides.lam.training_set`` nodes); exit status 300 with the reason when
        the set cannot be split.
    """
    from aiida_hydrides.data.training_set import TrainingSetData

    share = 0.1 if fraction is None else fraction.value
    try:
        train, validation = training_set.get_training_set().split(
            share, salt.value if salt is not None else DEFAULT_SPLIT_SALT
        )
    except HydridesInputError as exc:
        return ExitCode(300, f'the training set cannot be split: {exc}')
    return {'train': TrainingSetData(train), 'validation': TrainingSetData(validation)}
