"""The documentation: the Sphinx build has no warning (so CI fails on broken pages or docstrings), and the
QueryBuilder examples of docs/extras.md run and find what they say."""

import pathlib
import re
import subprocess
import sys

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / 'docs'


@pytest.mark.timeout(900)
def test_docs_build_without_warnings(tmp_path):
    """``make docs`` into a temporary folder: HTML, warnings as errors (autodoc of every module included).

    Sphinx runs in its own process (``python -m sphinx`` is ``sphinx.cmd.build.build_main``): the build imports every
    module of the package and the theme's dependencies, which must not change the logging or modules of this session.
    """
    args = ['-W', '--keep-going', '-q', '-j', '1', '-b', 'html', '-d', str(tmp_path / 'doctrees')]
    result = subprocess.run(
        [sys.executable, '-m', 'sphinx', *args, str(DOCS), str(tmp_path / 'html')],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=880,
        check=False,
    )
    assert result.returncode == 0, f'the Sphinx build has warnings (treated as errors):\n{result.stderr[-20000:]}'
    assert (tmp_path / 'html' / 'index.html').is_file()
    assert (tmp_path / 'html' / 'reference' / 'generated' / 'aiida_hydrides.extras.html').is_file()


def test_dev_extra_installs_the_docs_and_ruff():
    """``make test`` installs ``.[dev]``: it must hold the docs extra and ruff."""
    extras = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['optional-dependencies']
    assert set(extras['docs']) <= set(extras['dev'])
    assert any(requirement.startswith('ruff') for requirement in extras['dev'])


def _python_blocks(path: pathlib.Path) -> list[str]:
    return re.findall(r'^```python\n(.*?)^```', path.read_text(), flags=re.MULTILINE | re.DOTALL)


def test_extras_examples(aiida_profile, capsys):
    """The QueryBuilder examples of docs/extras.md, run on tagged structures."""
    from aiida import orm

    from aiida_hydrides.extras import tag_node

    def structure(**tags):
        node = orm.StructureData(cell=[[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]])
        node.append_atom(position=(0, 0, 0), symbols='Ca')
        node.store()
        tag_node(node, **tags)
        return node

    common = {'kind': 'search_minimum', 'method': 'lam', 'system': 'Ca-Y', 'formula': 'CaH6'}
    cubic = structure(
        **common, pressure_gpa=200.0, space_group_number=229, space_group_symbol='Im-3m', enthalpy_lam_ev=-1.5
    )
    tetragonal = structure(
        **common, pressure_gpa=200.0, space_group_number=139, space_group_symbol='I4/mmm', enthalpy_lam_ev=-1.7
    )
    monoclinic = structure(
        **common, pressure_gpa=200.0, space_group_number=12, space_group_symbol='C2/m', enthalpy_lam_ev=-1.9
    )
    other_pressure = structure(
        **common, pressure_gpa=150.0, space_group_number=229, space_group_symbol='Im-3m', enthalpy_lam_ev=-2.0
    )
    relaxed = structure(
        kind='dft_relaxed',
        method='dft',
        formula='CaH6',
        pressure_gpa=200.0,
        enthalpy_dft_ev=-4.2,
        source_uuid=cubic.uuid,
    )

    blocks = [block for block in _python_blocks(DOCS / 'extras.md') if 'load_profile' not in block]
    assert len(blocks) == 3
    namespace = {'orm': orm}
    for block in blocks:
        exec(compile(block, str(DOCS / 'extras.md'), 'exec'), namespace)

    ours = {cubic.uuid, tetragonal.uuid, monoclinic.uuid, other_pressure.uuid}
    found = [row[0] for row in namespace['minima'] if row[0] in ours]
    assert found == [tetragonal.uuid, cubic.uuid]  # space group > 75 at 200 GPa, by increasing LAM enthalpy
    assert 'I4/mmm' in capsys.readouterr().out
    rows = {row[0]: row for row in namespace['relaxed']}
    assert rows[relaxed.uuid][1:] == ['CaH6', 200.0, -4.2, cubic.uuid]
    assert not ours & set(rows)  # the LAM minima are never DFT structures
    assert ('CaH6', 200.0, -1.5, -4.2) in namespace['pairs']
