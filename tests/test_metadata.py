"""setup.json (the AiiDA plugin registry format) stays in step with pyproject.toml."""

import json
import pathlib

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_setup_json_matches_pyproject():
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    setup = json.loads((ROOT / 'setup.json').read_text())
    assert setup['name'] == project['name'] == 'aiida-hydrides'
    assert setup['version'] == project['version']
    assert setup['install_requires'] == project['dependencies']
    assert 'Framework :: AiiDA' in project['classifiers'] and 'Framework :: AiiDA' in setup['classifiers']
    scripts = [f'{name} = {target}' for name, target in project['scripts'].items()]
    assert setup['entry_points']['console_scripts'] == scripts
    for group, entries in project.get('entry-points', {}).items():
        assert setup['entry_points'][group] == [f'{name} = {target}' for name, target in entries.items()]
