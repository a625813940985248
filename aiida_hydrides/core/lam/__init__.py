"""The LAM engine: DeePMD (or any ASE calculator) energies and enthalpies, batched variable-cell relaxation under
pressure, and LAM phonons. Pure Python, no AiiDA.

Modules: :mod:`.model` (DeePMD evaluator, :func:`load_model`), :mod:`.ase_backend` (ASE calculators as stand-ins),
:mod:`.relax` (the batched relaxation engine), :mod:`.phonons` (finite-displacement phonons), :mod:`.reference` (the
plain ASE loop for comparison), :mod:`aiida_hydrides.core.lam.batch` (compact structure batches), :mod:`.deviation`
(model deviation of an ensemble and the choice of frames to label), :mod:`.worker` (the ``hydrides-lam`` CLI).

Nothing heavy is imported here, so that :func:`.threads.configure_threads` can run before numpy, torch or deepmd load.
The main names are available lazily from this package.
"""

import importlib

_LAZY = {
    'load_model': 'model',
    'DeepMDEvaluator': 'model',
    'Evaluation': 'model',
    'BatchEvaluator': 'model',
    'AseEvaluator': 'ase_backend',
    'BatchRelaxer': 'relax',
    'RelaxSettings': 'relax',
    'RelaxResult': 'relax',
    'relax_structures': 'relax',
    'lam_phonons': 'phonons',
    'LamPhononResult': 'phonons',
    'ase_relax': 'reference',
    'pack_structures': 'batch',
    'unpack_structures': 'batch',
    'evaluate_deviation': 'deviation',
    'select_frames': 'deviation',
    'configure_threads': 'threads',
    'LamModelError': 'errors',
    'InvalidPressureError': 'errors',
}

__all__ = tuple(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f'.{_LAZY[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
