"""Values read from the model definition stored in a frozen DeePMD PyTorch model, without loading torch or deepmd.

A frozen ``.pth`` is a zip archive whose ``data.pkl`` / ``model_def_script.json`` hold the training input's model
section as JSON text; list-valued keys such as ``type_map`` and the descriptor's ``sel`` can be read from it directly.
"""
from __future__ import annotations

import json
import os
import re
import zipfile

__all__ = ('stored_list_values',)

_DEFINITION_FILES = ('data.pkl', 'model_def_script.json')


def stored_list_values(path: str | os.PathLike, key: str) -> list[list] | None:
    """Every distinct JSON list stored under ``"key"`` in the model definition of the frozen model at ``path``, in
    order of appearance; ``None`` when the file is not a readable zip archive (other formats, missing file)."""
    pattern = re.compile(rb'"' + re.escape(key.encode()) + rb'"\s*:\s*(\[[^\]]*\])')
    found: list[list] = []
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
