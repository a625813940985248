"""Sphinx configuration of the aiida-hydrides documentation.

The Markdown pages are read by MyST; the API reference (``reference/``) is generated from the docstrings by
autosummary, recursively over ``aiida_hydrides``, at every build. Build with ``make docs`` (warnings are errors).
"""

import contextlib
import logging
import pathlib
import shutil

import aiida_hydrides

DOCS = pathlib.Path(__file__).resolve().parent

# furo's dependency accessible-pygments calls logging.basicConfig(level=INFO) when imported, which would print the INFO
# records of every library imported by autodoc: import it first and keep the root logger at WARNING
with contextlib.suppress(ImportError):
    import a11y_pygments  # noqa: F401
logging.getLogger().setLevel(logging.WARNING)

project = 'aiida-hydrides'
author = 'The aiida-hydrides developers'
copyright = 'The aiida-hydrides developers'
release = aiida_hydrides.__version__
version = release

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
    'sphinx.ext.autosummary',
    'sphinx.ext.mathjax',
]

source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
templates_path = ['reference/_templates']
exclude_patterns = ['_build', 'reference/_templates', 'Thumbs.db', '.DS_Store']
nitpicky = False

# MyST: heading anchors so that links such as ``lam.md#units`` resolve
myst_enable_extensions = ['colon_fence', 'deflist', 'dollarmath']
myst_heading_anchors = 3
# ```math fences (GitHub's display math) are rendered as the math directive
myst_fence_as_directive = ['math']


# API reference: the stubs are regenerated from the package at every build, so modules that moved or were removed
# leave no stale page behind
_generated = DOCS / 'reference' / 'generated'
shutil.rmtree(_generated, ignore_errors=True)
autosummary_generate = True
autosummary_generate_overwrite = True
# each object is documented once, in the module that defines it (re-exports through ``__all__`` would document it
# twice and make cross-references such as ``HydridesInputError`` ambiguous)
autodoc_default_options = {'members': True, 'show-inheritance': True, 'ignore-module-all': True}
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_typehints_description_target = 'documented'

html_theme = 'furo'
html_title = f'aiida-hydrides {release}'
