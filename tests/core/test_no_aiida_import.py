"""The core must never import AiiDA, directly or indirectly: import every module of it in a clean interpreter."""

import subprocess
import sys
import textwrap


def test_core_modules_do_not_import_aiida():
    script = textwrap.dedent(
        """
        import pkgutil, sys
        import aiida_hydrides.core as core

        names = []
        for info in pkgutil.walk_packages(core.__path__, core.__name__ + '.'):
            __import__(info.name)
            names.append(info.name)
        leaked = sorted(
            name for name in sys.modules
            if name == 'aiida' or name.startswith('aiida.')
            or (name.startswith('aiida_') and not name.startswith('aiida_hydrides'))
        )
        print(len(names))
        print(' '.join(leaked))
        """
    )
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    count, leaked = (result.stdout.splitlines() + ['', ''])[:2]
    assert int(count) >= 6  # at least the chemistry modules
    assert leaked.strip() == '', f'aiida_hydrides.core imports AiiDA: {leaked}'
