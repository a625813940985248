"""The shared CLI parameters: one click message naming the option and exit status 2 for every bad value, on every
command that takes the option; the pressure, protocol and structure types; the same options everywhere."""

import pathlib
import re

import click
import pytest
from aiida import orm

from aiida_hydrides.cli import cli
from aiida_hydrides.cli.params import types

DATA_DIR = pathlib.Path(__file__).resolve().parents[1] / 'data'
TINY_MODEL = DATA_DIR / 'lam' / 'tiny_se_e2_a.pth'
H3S_CIF = DATA_DIR / 'structures' / 'H3S_Im-3m.cif'

#: command -> the arguments that make the rest of its command line valid
COMMAND_ARGS = {
    'dft-enthalpy': [H3S_CIF],
    'epc': [H3S_CIF],
    'search': ['Ca-Y', '--model', TINY_MODEL],
    'relax': [H3S_CIF, '--model', TINY_MODEL],
    'phonons': [H3S_CIF, '--model', TINY_MODEL],
}
PRESSURE_COMMANDS = ['dft-enthalpy', 'search', 'relax']
PROTOCOL_COMMANDS = ['dft-enthalpy', 'epc', 'search']
WORK_CHAINS = {'dft-enthalpy': 'hydrides.dft.enthalpy', 'epc': 'hydrides.epc', 'search': 'hydrides.search.system'}

BAD_PRESSURES = [
    ('-5', 'between 0 and 1000 GPa, got -5 GPa'),
    ('1e6', 'did you give kbar'),
    ('abc', "cannot read the pressure 'abc'"),
    ('200 psi', "unknown pressure unit 'psi'"),
]


def assert_bad_option(result, option, message=None):
    """One click error that names ``option``, exit status 2, no traceback and no unhandled exception."""
    output = result.output
    assert result.exit_code == 2, output
    assert 'Traceback' not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert output.count('Error:') == 1, output
    assert f'Invalid value for {option}' in output, output
    if message:
        assert message in output, output


@pytest.mark.parametrize('command', PRESSURE_COMMANDS)
@pytest.mark.parametrize(('value', 'message'), BAD_PRESSURES)
@pytest.mark.parametrize('flag', ['--pressure', '-p'])
def test_bad_pressure(invoke, command, value, message, flag):
    result = invoke(command, *COMMAND_ARGS[command], flag, value)
    assert_bad_option(result, "'-p' / '--pressure'", message)


@pytest.mark.parametrize('command', PROTOCOL_COMMANDS)
def test_unknown_protocol(invoke, command):
    result = invoke(command, *COMMAND_ARGS[command], '--protocol', 'ultra')
    choices = "'fast', 'screening', 'moderate', 'precise'" if command == 'epc' else "'fast', 'moderate', 'precise'"
    assert_bad_option(result, "'--protocol'", f"'ultra' is not one of {choices}")


@pytest.mark.parametrize(
    ('command', 'option', 'value', 'shown'),
    [
        ('dft-enthalpy', '--mpiprocs', '0', "'--mpiprocs'"),
        ('epc', '--mpiprocs', '-2', "'--mpiprocs'"),
        ('search', '--budget', '0', "'--budget'"),
        ('search', '--max-steps', '0', "'--max-steps'"),
        ('search', '--max-jobs', '0', "'--max-jobs'"),
        ('search', '--seed', '-1', "'--seed'"),
        ('search', '--window', '-10', "'--window'"),
        ('search', '--formula-units', 'two', "'--formula-units'"),
        ('search', '--formula-units', '0,2', "'--formula-units'"),
        ('relax', '--max-steps', '0', "'--max-steps'"),
        ('relax', '--fmax', '0', "'--fmax'"),
        ('relax', '--threads', '0', "'--threads'"),
        ('relax', '--batch-size', '0', "'--batch-size'"),
        ('phonons', '--threads', '0', "'--threads'"),
        ('phonons', '--displacement', '0', "'--displacement'"),
        ('phonons', '--threshold', '-1', "'--threshold'"),
    ],
)
def test_bad_numbers(invoke, command, option, value, shown):
    result = invoke(command, *COMMAND_ARGS[command], option, value)
    assert_bad_option(result, shown)


@pytest.mark.parametrize('command', ['search', 'relax', 'phonons'])
def test_missing_model_file(invoke, command, tmp_path):
    args = [arg if arg != TINY_MODEL else tmp_path / 'missing.pth' for arg in COMMAND_ARGS[command]]
    result = invoke(command, *args)
    assert_bad_option(result, "'-m' / '--model'", 'does not exist')


def test_model_by_shipped_name(tmp_path):
    """``--model seed`` is the shipped seed model's file; a folder or an unknown name is refused by the option."""
    from aiida_hydrides.models import SEED_FAST_MODEL, SEED_MODEL, seed_model_path

    assert types.ModelType().convert('seed', None, None) == str(SEED_MODEL)
    assert types.ModelType().convert('seed-fast', None, None) == str(SEED_FAST_MODEL) == str(seed_model_path('fast'))
    with pytest.raises(ValueError, match='standard, fast'):
        seed_model_path('huge')
    for value, shown in ((tmp_path, 'is a folder'), ('seed-huge', 'not the name of a shipped model (seed, seed-fast)')):
        with pytest.raises(click.BadParameter, match=re.escape(shown)):
            types.ModelType().convert(str(value), None, None)


@pytest.mark.parametrize('command', ['dft-enthalpy', 'epc'])
def test_unknown_structure(invoke, command, tmp_path):
    result = invoke(command, tmp_path / 'missing.cif')
    assert_bad_option(result, "'STRUCTURE'", 'is neither a structure file nor a stored StructureData')
    garbage = tmp_path / 'garbage.cif'
    garbage.write_text('no crystal here\n')
    result = invoke(command, garbage)
    assert_bad_option(result, "'STRUCTURE'", 'could not read')


@pytest.mark.parametrize('command', ['dft-enthalpy', 'epc', 'search'])
def test_unknown_computer_and_code(invoke, command, aiida_localhost):
    result = invoke(command, *COMMAND_ARGS[command], '--computer', 'no-such-computer')
    assert_bad_option(result, "'-Y' / '--computer'", "cannot load the computer 'no-such-computer'")
    if command != 'epc':
        result = invoke(command, *COMMAND_ARGS[command], '--code', 'no-such-code@localhost')
        assert_bad_option(result, "'-X' / '--code'", "cannot load the code 'no-such-code@localhost'")


@pytest.mark.parametrize('command', ['dft-enthalpy', 'epc'])
def test_unknown_family(invoke, command, aiida_localhost, require_qe):
    result = invoke(command, H3S_CIF, '--family', 'NO/SUCH/FAMILY')
    assert_bad_option(result, "'-F' / '--family'", "the pseudopotential family 'NO/SUCH/FAMILY' is not installed")


def test_pressure_type_units():
    pressure = types.PressureType()
    for value in (200, '200', '200GPa', '200 GPa', '2000kbar', '2 Mbar', '0.2TPa'):
        assert pressure.convert(value, None, None) == pytest.approx(200.0)
    with pytest.raises(click.BadParameter, match='between 0 and 1000 GPa'):
        pressure.convert('-5', None, None)


@pytest.mark.parametrize('command', PROTOCOL_COMMANDS)
def test_protocol_choices_come_from_the_protocol_file(command):
    from aiida.plugins import WorkflowFactory

    from aiida_hydrides.workflows.protocols.utils import protocol_choices

    workflow = WorkflowFactory(WORK_CHAINS[command])
    option = next(param for param in cli.get_command(None, command).params if param.name == 'protocol')
    assert list(option.type.choices) == protocol_choices(workflow)
    ctx = click.Context(cli.get_command(None, command))
    assert option.get_default(ctx) == workflow.get_default_protocol()


def test_shared_options_are_the_same_everywhere():
    """The shared options carry the same flags, types and defaults on every command that has them."""

    def params(name):
        return {param.name: param for param in cli.get_command(None, name).params}

    def signature(param):
        return (
            tuple(param.opts),
            tuple(param.secondary_opts),
            type(param.type).__name__,
            param.default,
            getattr(param.type, 'min', None),
            param.is_flag,
        )

    shared = {
        'pressure': ['dft-enthalpy', 'search', 'relax'],
        'computer': ['dft-enthalpy', 'epc', 'search', 'demo', 'setup'],
        'code': ['dft-enthalpy', 'search'],
        'mpiprocs': ['dft-enthalpy', 'epc'],
        'family': ['dft-enthalpy', 'epc', 'search'],
        'primitive': ['dft-enthalpy', 'epc'],
        'daemon': ['dft-enthalpy', 'epc', 'search'],
        'model': ['search', 'relax', 'phonons'],
        'threads': ['relax', 'phonons'],
        'as_json': ['dft-enthalpy', 'epc', 'search', 'relax', 'phonons'],
        'verbose': ['dft-enthalpy', 'epc', 'search', 'demo'],
    }
    for name, commands in shared.items():
        signatures = {command: signature(params(command)[name]) for command in commands}
        if name == 'mpiprocs':  # setup's --mpiprocs sets the computer default that the others default to
            assert params('setup')['mpiprocs'].default == 2
        assert len(set(signatures.values())) == 1, (name, signatures)
    assert params('dft-enthalpy')['primitive'].default is True
    assert params('dft-enthalpy')['computer'].default == 'localhost'
    for command in ('dft-enthalpy', 'epc', 'search'):
        assert isinstance(
            params(command)['structure' if command != 'search' else 'system'].type,
            types.StructureType if command != 'search' else click.types.StringParamType,
        )


class TestStructureType:
    """A structure file, or a stored StructureData by PK, UUID (prefix) or unique label."""

    @pytest.fixture
    def stored(self, aiida_profile):
        from aiida_hydrides.core.prototypes import h3s_primitive

        node = orm.StructureData(ase=h3s_primitive('S', a=3.0))
        node.label = f'test-cli-structure-{node.uuid[:8]}'
        return node.store()

    @staticmethod
    def convert(value):
        return types.StructureType().convert(value, None, None)

    def test_file(self):
        atoms = self.convert(str(H3S_CIF))
        assert len(atoms) == 8 and atoms.info['source_file'] == str(H3S_CIF)

    def test_pk_uuid_label(self, stored):
        for identifier in (str(stored.pk), stored.uuid, stored.uuid[:13], stored.uuid.replace('-', ''), stored.label):
            found = self.convert(identifier)
            assert found.uuid == stored.uuid, identifier

    def test_label_must_be_unique(self, stored):
        twin = orm.StructureData(cell=stored.cell)
        twin.append_atom(position=(0, 0, 0), symbols='H')
        twin.label = stored.label
        twin.store()
        with pytest.raises(click.BadParameter, match=f"the label '{stored.label}' is not unique: 2 StructureData"):
            self.convert(stored.label)
        assert self.convert(str(twin.pk)).uuid == twin.uuid

    def test_not_a_structure(self, aiida_profile):
        other = orm.Int(5).store()
        with pytest.raises(click.BadParameter, match=f'node {other.pk} is a Int, not a StructureData'):
            self.convert(str(other.pk))
        with pytest.raises(click.BadParameter, match='is a Int, not a StructureData'):
            self.convert(other.uuid)
        with pytest.raises(click.BadParameter, match='neither a structure file nor a stored StructureData'):
            self.convert('no-such-label-anywhere')
