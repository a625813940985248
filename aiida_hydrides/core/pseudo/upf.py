"""Read the header of a UPF pseudopotential file (formats 1 and 2) without a full parser."""

from __future__ import annotations

import pathlib
import re

_HEADER_V2 = re.compile(r'<PP_HEADER\b(.*?)/?>', re.DOTALL)
_ATTRIBUTE = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_NUMERIC = ('z_valence', 'wfc_cutoff', 'rho_cutoff', 'total_psenergy')


class UpfError(ValueError):
    """A file that is not a readable UPF pseudopotential."""


def read_upf_header(path: str | pathlib.Path) -> dict:
    """Return the ``PP_HEADER`` of a UPF file as a dict; numbers in ``z_valence``, ``wfc_cutoff``, ``rho_cutoff``.

    The element symbol is returned stripped under ``element``. UPF v1 headers give ``element`` and ``z_valence``.
    """
    text = pathlib.Path(path).read_text(errors='replace')
    match = _HEADER_V2.search(text)
    if match and '=' in match.group(1):
        header = {key: value.strip() for key, value in _ATTRIBUTE.findall(match.group(1))}
    else:
        header = _read_header_v1(text, path)
    for key in _NUMERIC:
        if key in header:
            try:
                header[key] = float(header[key].lower().replace('d', 'e'))
            except ValueError as exc:
                raise UpfError(f'{path}: PP_HEADER attribute {key}={header[key]!r} is not a number') from exc
    if 'element' not in header or 'z_valence' not in header:
        raise UpfError(f'{path}: the PP_HEADER has no element or no z_valence')
    return header


def _read_header_v1(text: str, path) -> dict:
    match = re.search(r'<PP_HEADER>(.*?)</PP_HEADER>', text, re.DOTALL)
    if not match:
        raise UpfError(f'{path}: no PP_HEADER found; not a UPF file')
    lines = [line.split() for line in match.group(1).strip().splitlines()]
    header = {}
    for columns in lines:
        if len(columns) >= 2 and columns[1].lower() == 'element':
            header['element'] = columns[0]
        elif 'Z' in columns and 'valence' in columns:
            header['z_valence'] = columns[0]
        elif len(columns) >= 3 and columns[2].lower().startswith('suggested'):
            header['wfc_cutoff'], header['rho_cutoff'] = columns[0], columns[1]
    return header
