"""Values read from the model definition stored in a frozen DeePMD PyTorch model, without loading torch or deepmd.

A frozen ``.pth`` is a zip archive whose ``data.pkl`` / ``model_def_script.json`` hold the training input's model
section as JSON text; the lists and plain values of keys such as ``type_map``, the descriptor's ``sel`` or ``type_one_side`` can be read
from it directly.
"""

from __future__ import annotations

import json
import os
import re
import zipfile

__all__ = ('checkpoint_model_params', 'stored_descriptor_type', 'stored_list_values', 'stored_values')

_DEFINITION_FILES = ('data.pkl', 'model_def_script.json')


#: A JSON list without nested lists, or a plain JSON value (true, false, null, a number, a string).
_VALUE = rb'(\[[^\]]*\]|true|false|null|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|"[^"]*")'


def stored_values(path: str | os.PathLike, key: str) -> list | None:
    """Every distinct value (a list without nested lists, or a plain value) stored under ``"key"`` in the model
    definition of the frozen model at ``path``, in order of appearance; ``None`` when the file is not a readable zip
    archive (other formats, missing file)."""
    pattern = re.compile(rb'"' + re.escape(key.encode()) + rb'"\s*:\s*' + _VALUE)
    found: list = []
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(_DEFINITION_FILES):
                    for match in pattern.finditer(archive.read(name)):
                        value = json.loads(match.group(1).decode())
                        if value not in found:
                            found.append(value)
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return found


def stored_list_values(path: str | os.PathLike, key: str) -> list[list] | None:
    """The list values of :func:`stored_values` (``type_map``, ``sel``, ...)."""
    found = stored_values(path, key)
    return None if found is None else [value for value in found if isinstance(value, list)]


_DESCRIPTOR_TYPE = re.compile(rb'"descriptor"\s*:\s*\{\s*"type"\s*:\s*"([^"]+)"')


def stored_descriptor_type(path: str | os.PathLike) -> str | None:
    """The descriptor type (``se_e2_a``, ``dpa3``, ...) of the frozen model at ``path``; ``None`` when it cannot be
    read that way (not a frozen ``.pth``, or several descriptors)."""
    found = set()
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(_DEFINITION_FILES):
                    found.update(match.group(1).decode() for match in _DESCRIPTOR_TYPE.finditer(archive.read(name)))
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return found.pop() if len(found) == 1 else None


def checkpoint_model_params(path: str | os.PathLike) -> dict | None:
    """The model parameters (the training input's ``model`` section) stored in a DeePMD PyTorch training checkpoint
    (``.pt``), read without torch: the pickle is loaded with every class but ``OrderedDict`` replaced by a stub that
    builds nothing (tensors become ``None``); ``None`` when the file is not such a checkpoint."""
    import collections
    import io
    import pickle

    def stub(*args, **kwargs):
        return None

    class _Reader(pickle.Unpickler):
        def find_class(self, module, name):
            if module == 'collections' and name == 'OrderedDict':
                return collections.OrderedDict
            return stub

        def persistent_load(self, pid):
            return None

    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if name.endswith('/data.pkl') or name == 'data.pkl']
            if len(names) != 1:
                return None
            state = _Reader(io.BytesIO(archive.read(names[0]))).load()
        state = state.get('model', state)
        params = state['_extra_state']['model_params']
    except Exception:  # noqa: BLE001 - anything unexpected means: not a checkpoint we can read
        return None
    return params if isinstance(params, dict) else None
