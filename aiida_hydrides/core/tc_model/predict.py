"""Predictions of a Tc model ensemble, and the launcher that runs the steps of the Tc jobs in one Python process.

- :func:`predict_tc`: the Tc of every structure by every member (DeePMD's ``DeepEval``, which returns a
  ``DeepProperty`` for a property model), :func:`ensemble_statistics`: the ensemble's mean and spread (standard
  deviation over the members, population: ``np.std``), :func:`predict_records`: both for records;
- :func:`pth_to_checkpoint`: a frozen ``.pth`` model as a ``.pt`` training checkpoint (its weights and model
  definition), which ``dp --pt train --finetune`` needs: the shipped LAM is frozen;
- :func:`launcher_script`: the source of the launcher of a Tc job (``run_tc_steps.py``): the steps of ``tc_steps.json``
  run one after another in one process by :func:`aiida_hydrides.core.lam.training.run_steps` (each step's output to
  its log); a step is ``dp`` arguments (deepmd-kit's own entry point) or one of the pseudo-commands
  ``@pth-to-pt LAM.pth LAM.pt`` (:func:`pth_to_checkpoint`) and ``@predict INPUT.json OUTPUT.json``
  (:func:`predict_file`). The launcher needs only the standard library, numpy and deepmd-kit (no aiida-hydrides on
  the computer); :func:`launcher_shell` runs it with the Python of the ``dp`` code.

The prediction files: the input ``{"models": [paths], "frames": [{"name", "symbols", "cell", "positions"}]}``
(:func:`prediction_input`), the output ``{"models": [...], "type_maps": [...], "predictions": {name: [Tc of each
member]}}``.

Importing this module imports neither AiiDA nor deepmd-kit (the functions that need deepmd-kit import it when called).
"""

from __future__ import annotations

import inspect
import json
import shlex
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import HydridesInputError
from .records import TcRecord

#: the line :func:`pth_to_checkpoint` prints when done
CHECKPOINT_WRITTEN = 'hydrides: checkpoint written'

__all__ = (
    'CHECKPOINT_WRITTEN',
    'LAUNCHER_FILE',
    'STEPS_FILE',
    'ensemble_statistics',
    'launcher_script',
    'launcher_shell',
    'prediction_input',
    'predict_file',
    'predict_records',
    'predict_tc',
    'pth_to_checkpoint',
    'read_predictions',
)

STEPS_FILE = 'tc_steps.json'
LAUNCHER_FILE = 'run_tc_steps.py'
LAUNCHER_EXECUTABLE = 'run_tc_steps'


def ensemble_statistics(values) -> tuple[np.ndarray, np.ndarray]:
    """(mean, spread) over the ensemble of ``values`` (members x structures): the mean and the population standard
    deviation (``np.std``) of the members' predictions, per structure."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[0] < 1:
        raise HydridesInputError(f'ensemble predictions must be members x structures, got shape {values.shape}')
    return values.mean(axis=0), values.std(axis=0)


def prediction_input(models: Sequence[str], records: Sequence[TcRecord]) -> dict:
    """The input of :func:`predict_file`: model paths and the structures of ``records``."""
    return {
        'models': [str(model) for model in models],
        'frames': [
            {
                'name': record.name,
                'symbols': list(record.symbols),
                'cell': [list(map(float, vector)) for vector in record.cell],
                'positions': [list(map(float, position)) for position in record.positions],
            }
            for record in records
        ],
    }


def predict_file(input_path, output_path):
    """Predict the Tc of the frames of ``input_path`` (JSON, :func:`prediction_input`) with every model and write
    ``output_path`` (``{"models", "type_maps", "predictions": {name: [Tc per model]}}``).

    Written as it is into the launcher: standard library, numpy and deepmd-kit, imported in its body; no annotations.
    Frames with the same atom list are evaluated together.
    """
    import json

    import numpy as np
    from deepmd.infer import DeepEval

    with open(input_path) as handle:
        request = json.load(handle)
    frames = request['frames']
    predictions = {frame['name']: [] for frame in frames}
    type_maps = []
    for model_path in request['models']:
        model = DeepEval(model_path)
        type_map = list(model.get_type_map())
        type_maps.append(type_map)
        groups = {}
        for frame in frames:
            unknown = sorted(set(frame['symbols']) - set(type_map))
            if unknown:
                raise ValueError(
                    f'structure {frame["name"]}: elements {unknown} are not in the type map {type_map} of {model_path}'
                )
            types = tuple(type_map.index(symbol) for symbol in frame['symbols'])
            groups.setdefault(types, []).append(frame)
        for types, members in groups.items():
            coords = np.array([np.asarray(frame['positions'], dtype=float).reshape(-1) for frame in members])
            cells = np.array([np.asarray(frame['cell'], dtype=float).reshape(9) for frame in members])
            values = np.asarray(model.eval(coords, cells, list(types))[0], dtype=float).reshape(len(members), -1)
            for frame, value in zip(members, values[:, 0]):
                predictions[frame['name']].append(float(value))
    with open(output_path, 'w') as handle:
        json.dump({'models': request['models'], 'type_maps': type_maps, 'predictions': predictions}, handle)


def pth_to_checkpoint(pth_path, checkpoint_path):
    """Write the frozen DeePMD PyTorch model ``pth_path`` as a training checkpoint ``checkpoint_path`` (``.pt``): its
    weights under ``model.Default.`` and its model definition in ``_extra_state``, what ``dp --pt train --finetune``
    reads. Written as it is into the launcher (deepmd-kit and torch imported in its body; no annotations)."""
    import json

    import torch
    from deepmd.pt.model.model import get_model
    from deepmd.pt.train.wrapper import ModelWrapper

    frozen = torch.jit.load(pth_path, map_location='cpu')
    params = json.loads(frozen.model_def_script)
    model = get_model(json.loads(json.dumps(params)))
    model.load_state_dict(frozen.state_dict())
    wrapper = ModelWrapper(model, model_params=params)
    state = wrapper.state_dict()
    state['_extra_state'] = {'model_params': params, 'train_infos': {'lr': 0.0, 'step': 0}}
    torch.save({'model': state}, checkpoint_path)
    print(f'hydrides: checkpoint written: {pth_path} as {checkpoint_path}, type map {params.get("type_map")}')


def predict_tc(models: Sequence[str], records: Sequence[TcRecord]) -> np.ndarray:
    """The Tc (K) of every record by every model (members x records), in this process (needs deepmd-kit)."""
    import os
    import tempfile

    records = list(records)
    if not records:
        return np.zeros((len(models), 0))
    with tempfile.TemporaryDirectory() as folder:
        source, target = os.path.join(folder, 'in.json'), os.path.join(folder, 'out.json')
        with open(source, 'w') as handle:
            json.dump(prediction_input(models, records), handle)
        predict_file(source, target)
        with open(target) as handle:
            result = json.load(handle)
    return read_predictions(result, [record.name for record in records])


def read_predictions(result: Mapping, names: Sequence[str]) -> np.ndarray:
    """The members x structures array of the output of :func:`predict_file`, structures in the order of ``names``."""
    predictions = result.get('predictions') or {}
    missing = [name for name in names if name not in predictions]
    if missing:
        raise HydridesInputError(f'no prediction for {missing[:5]}')
    values = np.array([predictions[name] for name in names], dtype=float)
    if values.ndim != 2:
        raise HydridesInputError('the structures have predictions from different numbers of models')
    return values.T


def predict_records(models: Sequence[str], records: Sequence[TcRecord]) -> list[tuple[float, float]]:
    """``(tc_mean_K, tc_spread_K)`` of every record by the ensemble ``models`` (:func:`predict_tc`,
    :func:`ensemble_statistics`)."""
    mean, spread = ensemble_statistics(predict_tc(models, records))
    return [(float(m), float(s)) for m, s in zip(mean, spread)]


# --------------------------------------------------------------------------------------------------------------------
# the launcher of a job


def _dispatch(argv):
    """A step of the launcher: a pseudo-command (``@pth-to-pt``, ``@predict``) or ``dp`` arguments."""
    if argv and argv[0] == '@pth-to-pt':
        return pth_to_checkpoint(argv[1], argv[2])
    if argv and argv[0] == '@predict':
        return predict_file(argv[1], argv[2])
    from deepmd.main import main

    return main(argv)


_LAUNCHER = '''"""Run the steps of {steps_file} in this one Python process (written by a hydrides.tc_model job of aiida-hydrides):
a step is `dp ARGUMENTS` (deepmd-kit's own entry point, deepmd.main.main) or a pseudo-command (@pth-to-pt, @predict);
each step's output goes to its log file; a failed step does not stop the later ones. Usage: python {launcher}
[{steps_file}]. The exit status is that of the first failed step (0 when all succeed).
"""

import json
import os
import sys


{functions}

def _main(arguments):
    path = arguments[1] if len(arguments) > 1 else {steps_file!r}
    with open(path) as handle:
        steps = [(step['argv'], step['log']) for step in json.load(handle)]
    for _, log in steps:
        folder = os.path.dirname(log)
        if folder:
            os.makedirs(folder, exist_ok=True)
    codes = run_steps(steps, main=_dispatch, report=sys.stdout)
    failed = [code for code in codes if code]
    return failed[0] if failed else 0


if __name__ == '__main__':
    sys.exit(_main(sys.argv))
'''


def launcher_script() -> str:
    """The source of the launcher :data:`LAUNCHER_FILE` of a Tc job (see the module docstring)."""
    from ..lam.training import run_steps

    functions = '\n\n'.join(
        inspect.getsource(function).rstrip() + '\n'
        for function in (run_steps, pth_to_checkpoint, predict_file, _dispatch)
    )
    return _LAUNCHER.format(steps_file=STEPS_FILE, launcher=LAUNCHER_FILE, functions=functions)


def steps_json(steps: Sequence[tuple[Sequence[str], str]]) -> str:
    """The steps file of a job (:data:`STEPS_FILE`): ``[{"argv": [...], "log": "..."}, ...]``."""
    return json.dumps(
        [{'argv': [str(argument) for argument in argv], 'log': str(log)} for argv, log in steps], indent=2
    )


def launcher_shell(executable: str) -> str:
    """The lines of a job script (POSIX sh) that run the launcher with the Python of the ``dp`` script at
    ``executable``: the launcher after the first lines of ``dp`` (its ``#!`` line, those before its first import),
    as :func:`aiida_hydrides.core.lam.training.steps_shell` does; a ``dp`` that is not a Python console script is an
    error (the pseudo-commands need deepmd-kit's Python)."""
    dp = shlex.quote(str(executable))
    launcher, steps_file, executable_name = (
        shlex.quote(name) for name in (LAUNCHER_FILE, STEPS_FILE, LAUNCHER_EXECUTABLE)
    )
    return f"""# hydrides.tc_model: the steps of {STEPS_FILE} in one Python process, the Python of dp
hydrides_dp={dp}
hydrides_dp_header=$(sed -E -n '/^(import|from)[[:space:]]/q;p' "$hydrides_dp")
case "$hydrides_dp_header" in
    '#!'*python*) grep -E -q '^(import|from)[[:space:]]' "$hydrides_dp" || hydrides_dp_header='' ;;
    *) hydrides_dp_header='' ;;
esac
if [ -z "$hydrides_dp_header" ]; then
    echo "hydrides.tc_model: $hydrides_dp is not a Python console script of deepmd-kit" >&2
    exit 2
fi
{{ printf '%s\\n' "$hydrides_dp_header"; cat {launcher}; }} > {executable_name}
chmod +x {executable_name}
./{executable_name} {steps_file}
"""
