"""``LamDeviationCalculation``: the model deviation of an ensemble of DeePMD models on many frames
(``hydrides-lam deviation``) on any AiiDA computer, e.g. a GPU node; the exploration step of concurrent learning.

One job evaluates every model of ``models`` (a namespace of ``SinglefileData``, at least 2; DP-GEN uses 4 that differ
only in their seeds) on the frames of ``frames`` (a namespace of structure-batch ``ArrayData``: the ``samples`` or
``minima`` outputs of ``hydrides.search`` jobs as they are, e.g. one per pressure, or any batch of
:func:`~aiida_hydrides.data.structure_batch.structures_to_array`), classifies the frames by the trust window and
chooses the candidates to label (:mod:`aiida_hydrides.core.lam.deviation`). With ``parameters.frames`` set to
``'trajectory'`` or ``'both'`` the frames along the relaxations of a search run with ``trajectory_every`` > 0 are
used. The key of each ``frames`` entry names the frames' ``source`` in the outputs and is part of the groups over
which the ``spread`` choice of candidates shares out ``max_candidates``.
"""

from __future__ import annotations

import json

import numpy as np
from aiida import orm
from aiida.common import datastructures

from aiida_hydrides.calculations.base import LamWorkerCalculation, validate_model

__all__ = ('LamDeviationCalculation', 'frames_from_inputs')


def _validate_models(namespace, _):
    if not namespace:
        return None  # the port itself reports a missing namespace
    if len(namespace) < 2:
        return f'a model deviation needs an ensemble of at least 2 models, got {len(namespace)}'
    for key, node in namespace.items():
        message = validate_model(node, None)
        if message:
            return f'models.{key}: {message}'
    return None


def _validate_frames(namespace, _):
    from aiida_hydrides.core.lam.batch import check_batch_arrays

    if not namespace:
        return 'give at least one batch of frames'
    for key, node in namespace.items():
        try:
            check_batch_arrays({name: node.get_array(name) for name in ('numbers', 'positions', 'cells', 'offsets')})
        except (KeyError, ValueError) as exc:
            return f'frames.{key} is not a structure batch: {exc}'
    return None


def _validate_parameters(node, _):
    from aiida_hydrides.core.lam.deviation import deviation_settings_from_parameters

    try:
        deviation_settings_from_parameters(node.get_dict())
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def _validate_inputs(inputs, ctx, _previous=None):
    """With ``parameters.frames`` ``'trajectory'`` or ``'both'``, every batch of ``frames`` must hold the frames along
    its relaxations (a search run with ``trajectory_every`` > 0), or be empty."""
    if _previous is not None:
        message = _previous(inputs, ctx)
        if message:
            return message
    parameters = inputs.get('parameters')
    which = parameters.get_dict().get('frames', 'structures') if parameters is not None else 'structures'
    if which not in ('trajectory', 'both'):
        return None
    for key, node in (inputs.get('frames') or {}).items():
        names = set(node.get_arraynames())
        if 'trajectory_offsets' not in names and node.base.attributes.get('n_structures', 1):
            return (
                f'frames.{key} holds no frames along relaxations (no trajectory_* arrays), but frames={which!r}: '
                "run its search with trajectory_every > 0, or use frames='structures'"
            )
    return None


def frames_from_inputs(frames: dict, which: str = 'structures') -> dict:
    """The frames of the ``frames`` namespace (key -> structure-batch ``ArrayData``) as one structure batch with
    ``source`` (the key), ``frame_kind``, ``frame_index``, ``sample_index`` and ``step`` per frame (see
    :func:`~aiida_hydrides.core.lam.deviation.frame_batch`); the file the worker reads."""
    from aiida_hydrides.core.lam.deviation import concatenate_batches, frame_batch

    keys = sorted(frames)
    parts = []
    for key in keys:
        node = frames[key]
        arrays = {name: node.get_array(name) for name in node.get_arraynames()}
        parts.append(frame_batch(arrays, which))
    batch = concatenate_batches(parts, labels=keys)
    batch['numbers'] = batch['numbers'].astype(np.int64)
    batch['positions'] = batch['positions'].astype(float)
    batch['cells'] = batch['cells'].astype(float)
    return batch


class LamDeviationCalculation(LamWorkerCalculation):
    """Model deviation of an ensemble on many frames, and the candidates to label (``hydrides-lam deviation``)."""

    _COMMAND = 'deviation'
    _PARSER_NAME = 'hydrides.lam.deviation'
    _INPUT_FRAMES = 'frames.npz'
    _MODELS_FOLDER = 'models'
    _OUTPUT_FILE = 'deviation.npz'
    _CANDIDATES_FILE = 'candidates.npz'
    _SUMMARY_FILE = 'deviation.json'
    #: the worker's results become the outputs: retrieved for the parser only, not stored twice
    _RETRIEVE_TEMPORARY_FILES = (_OUTPUT_FILE, _CANDIDATES_FILE, _SUMMARY_FILE)
    _STDOUT_FILE = 'deviation.log'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        del spec.inputs['model']  # an ensemble instead of the one model of the other worker jobs
        previous = spec.inputs.validator
        spec.inputs.validator = lambda inputs, ctx: _validate_inputs(inputs, ctx, previous)
        spec.input_namespace(
            'models',
            valid_type=orm.SinglefileData,
            dynamic=True,
            validator=_validate_models,
            help='The ensemble: at least 2 DeePMD model files (.pth, .pt, .pb) that differ only in their training '
            'seeds (DP-GEN uses 4), keyed by any name.',
        )
        spec.input_namespace(
            'frames',
            valid_type=orm.ArrayData,
            dynamic=True,
            validator=_validate_frames,
            help='Structure batches (numbers, positions, cells, offsets) keyed by source: the samples or minima of '
            'search jobs, or any batch of structures_to_array.',
        )
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            validator=_validate_parameters,
            required=False,
            help='f_trust_lo, f_trust_hi (eV/Å, default 0.05 and 0.30), v_trust_lo, v_trust_hi (eV/atom, default '
            'none), relative, relative_v, max_candidates (default all), selection (spread, random, max_deviation), '
            'seed, dedup_threshold (fingerprint distance, default 0.001; 0 off), frames (structures, trajectory, '
            'both), batch_size, head, threads, compress.',
        )
        spec.output(
            'deviations',
            valid_type=orm.ArrayData,
            help='Per frame: max_devi_f, min_devi_f, avg_devi_f (eV/Å), devi_e (eV/atom), max_devi_v, min_devi_v, '
            'avg_devi_v (eV/atom), status (accurate, candidate, failed), chosen, duplicate_of, natoms, formula, '
            'source, frame_kind, frame_index, sample_index, step.',
        )
        spec.output(
            'candidates',
            valid_type=orm.ArrayData,
            help='The chosen candidate frames as a structure batch, with the per-frame arrays of `deviations` and '
            'deviation_index (their index in `deviations`).',
        )
        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='counts and shares of accurate / candidate / failed frames (overall, per formula, source and kind of '
            'frame), n_chosen, n_duplicates, n_capped, max_devi_f statistics, settings, models (name, md5).',
        )
        spec.default_output_node = 'summary'

    def write_inputs(self, folder) -> list[str]:
        from aiida_hydrides.core.lam.deviation import deviation_settings_from_parameters

        params = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        settings, _ = deviation_settings_from_parameters(params)
        batch = frames_from_inputs(dict(self.inputs.frames), settings.frames)
        with folder.open(self._INPUT_FRAMES, 'wb') as handle:
            np.savez(handle, **batch)
        return [
            '--frames',
            self._INPUT_FRAMES,
            '--output',
            self._OUTPUT_FILE,
            '--candidates',
            self._CANDIDATES_FILE,
            '--summary',
            self._SUMMARY_FILE,
        ]

    def model_files(self) -> list[tuple[orm.SinglefileData, str]]:
        """The model nodes and their names in the working folder: ``models/<key><suffix>``, in key order."""
        files = []
        for key in sorted(self.inputs.models):
            node = self.inputs.models[key]
            suffix = '.' + node.filename.rsplit('.', 1)[-1].lower()
            files.append((node, f'{self._MODELS_FOLDER}/{key}{suffix}'))
        return files

    def prepare_for_submission(self, folder):
        arguments = self.write_inputs(folder)
        with folder.open(self._INPUT_PARAMETERS, 'w') as handle:
            json.dump(self.worker_parameters(), handle, indent=2)
        folder.get_subfolder(self._MODELS_FOLDER, create=True)
        files = self.model_files()

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [
            self._COMMAND,
            *arguments,
            '--models',
            *[name for _, name in files],
            '--parameters',
            self._INPUT_PARAMETERS,
            '--error-file',
            self._ERROR_FILE,
        ]
        codeinfo.stdout_name = self._STDOUT_FILE
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = [(node.uuid, node.filename, name) for node, name in files]
        calcinfo.retrieve_list = [self._ERROR_FILE, self._STDOUT_FILE]
        calcinfo.retrieve_temporary_list = list(self._RETRIEVE_TEMPORARY_FILES)
        return calcinfo
