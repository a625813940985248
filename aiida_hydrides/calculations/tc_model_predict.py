"""``TcModelPredictCalculation`` (entry point ``hydrides.tc_model.predict``): the Tc of structures by an ensemble of
Tc models (the ``models`` of ``hydrides.tc_model.train``), with the ``dp`` code.

Inputs: ``structures`` (a namespace of ``StructureData``, any keys) and ``models`` (a namespace of frozen Tc models,
``SinglefileData``). The job writes the structures and the model files and runs the prediction in one Python process
with the Python of the ``dp`` code (:func:`aiida_hydrides.core.tc_model.predict.predict_file`); the output
``predictions`` holds ``{"predictions": {key: {tc_mean_K, tc_spread_K, tc_members_K}}, "models": [model keys]}`` (mean
and population standard deviation over the members). :func:`aiida_hydrides.tc_model.predict_group` runs it for a group and stores the
results as extras.
"""

from __future__ import annotations

import json
import pathlib

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_hydrides.calculations.base import validate_model
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.tc_model import predict, training
from aiida_hydrides.core.tc_model.records import TcRecord

__all__ = ('TcModelPredictCalculation', 'structure_record')


def structure_record(key: str, structure: orm.StructureData) -> TcRecord:
    """A record without label of ``structure``, named ``key``."""
    atoms = structure.get_ase()
    return TcRecord(
        name=key,
        formula=structure.get_formula(mode='hill_compact'),
        symbols=tuple(atoms.get_chemical_symbols()),
        cell=tuple(tuple(float(x) for x in vector) for vector in atoms.cell[:]),
        positions=tuple(tuple(float(x) for x in position) for position in atoms.positions),
        pressure_gpa=0.0,
        tc_k=None,
        source=f'graph:{structure.uuid}',
    )


def _validate_namespace(value, _):
    if not value:
        return 'the namespace is empty'
    return None


def _validate_models(value, _):
    if not value:
        return 'give at least one model'
    for key, node in value.items():
        message = validate_model(node, None)
        if message:
            return f'{key}: {message}'
    return None


def model_file_name(key: str, node) -> str:
    """The name of model ``key`` in the job's folder (its suffix kept: DeePMD chooses the backend from it)."""
    return f'model_{key}{pathlib.PurePath(node.filename).suffix.lower()}'


class TcModelPredictCalculation(CalcJob):
    """Predict the Tc of structures with an ensemble of Tc models (mean and spread)."""

    _PARSER_NAME = 'hydrides.tc_model.predict'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            validator=_validate_namespace,
            help='The structures whose Tc to predict (keys: any valid link labels; the keys of the predictions).',
        )
        spec.input_namespace(
            'models',
            valid_type=orm.SinglefileData,
            dynamic=True,
            validator=_validate_models,
            help='The frozen Tc models of the ensemble (the models output of hydrides.tc_model.train).',
        )
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['parser_name'].default = cls._PARSER_NAME
        spec.inputs['metadata']['options']['withmpi'].default = False
        spec.output(
            'predictions',
            valid_type=orm.Dict,
            help='{"predictions": {key: {tc_mean_K, tc_spread_K, tc_members_K}}, "models": [model keys]}.',
        )
        spec.default_output_node = 'predictions'
        spec.exit_code(300, 'ERROR_PREDICTION_MISSING', message='no predictions were written: {message}')
        spec.exit_code(301, 'ERROR_PREDICTION_UNREADABLE', message='the predictions cannot be read: {message}')

    def prepare_for_submission(self, folder):
        code = self.inputs.code
        if not isinstance(code, orm.InstalledCode) or isinstance(code, orm.ContainerizedCode) or code.with_mpi:
            raise HydridesInputError('hydrides.tc_model.predict runs with an installed dp code without MPI')
        models = dict(sorted(self.inputs.models.items()))
        records = [structure_record(key, node) for key, node in sorted(self.inputs.structures.items())]
        names = [model_file_name(key, node) for key, node in models.items()]
        with folder.open(training.PREDICT_INPUT, 'w') as handle:
            json.dump(predict.prediction_input(names, records), handle)
        steps = [([training.PREDICT, training.PREDICT_INPUT, training.PREDICT_OUTPUT], training.PREDICT_LOG)]
        with folder.open(predict.STEPS_FILE, 'w') as handle:
            handle.write(predict.steps_json(steps))
        with folder.open(predict.LAUNCHER_FILE, 'w') as handle:
            handle.write(predict.launcher_script())
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = []
        calcinfo.codes_run_mode = datastructures.CodeRunMode.SERIAL
        calcinfo.append_text = predict.launcher_shell(str(code.get_executable()))
        calcinfo.local_copy_list = [
            (node.uuid, node.filename, name) for (key, node), name in zip(models.items(), names)
        ]
        calcinfo.retrieve_list = [training.PREDICT_OUTPUT, training.PREDICT_LOG]
        return calcinfo
