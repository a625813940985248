"""Read and write the input of the ``ld1.x`` atomic code (pseudopotential generation).

An ld1.x generation input holds two Fortran namelists, ``&input`` (the all-electron atom) and ``&inputp`` (the
pseudisation), followed by a card listing the pseudo-wavefunctions, one per line:
``label n l occupation energy rcut rcut_us jj``.
"""

from __future__ import annotations

import re

#: the columns of one line of the wavefunction card, in order
WAVEFUNCTION_FIELDS = ('label', 'n', 'l', 'occ', 'energy', 'rcut', 'rcut_us', 'jj')

_NAMELIST = re.compile(r'&(\w+)(.*?)\n\s*/', re.DOTALL)
_ASSIGNMENT = re.compile(r"(\w+)\s*=\s*('[^']*'|\"[^\"]*\"|[^,\n]+)")


class Ld1InputError(ValueError):
    """An ld1.x input that cannot be read or written."""


def parse_value(text: str):
    """Convert one Fortran namelist value to ``str``, ``bool``, ``int`` or ``float``."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        return text[1:-1]
    lowered = text.lower()
    if lowered in ('.true.', '.t.', 't'):
        return True
    if lowered in ('.false.', '.f.', 'f'):
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(lowered.replace('d', 'e'))
    except ValueError as exc:
        raise Ld1InputError(f'cannot read the namelist value {text!r}') from exc


def format_value(value) -> str:
    """Write a Python value as a Fortran namelist value."""
    if isinstance(value, bool):
        return '.true.' if value else '.false.'
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise Ld1InputError(f'cannot write a namelist value of type {type(value).__name__}')


def parse_ld1_input(text: str) -> dict:
    """Parse an ld1.x generation input into ``{'input': {...}, 'inputp': {...}, 'wavefunctions': [...]}``."""
    namelists = {}
    end = 0
    for match in _NAMELIST.finditer(text):
        namelists[match.group(1).lower()] = {
            key.lower(): parse_value(value) for key, value in _ASSIGNMENT.findall(match.group(2))
        }
        end = match.end()
    for required in ('input', 'inputp'):
        if required not in namelists:
            raise Ld1InputError(f'the ld1.x input has no &{required} namelist')

    lines = [line.split() for line in text[end:].splitlines() if line.strip()]
    if not lines:
        raise Ld1InputError('the ld1.x input has no wavefunction card')
    count = int(lines[0][0])
    if len(lines) < count + 1:
        raise Ld1InputError(f'the wavefunction card announces {count} lines but has {len(lines) - 1}')
    wavefunctions = []
    for columns in lines[1 : count + 1]:
        if len(columns) < 7:
            raise Ld1InputError(f'wavefunction line {" ".join(columns)!r} has fewer than 7 columns')
        columns = columns + ['0.0'] * (8 - len(columns))
        label, n, l, *numbers = columns[:8]
        wavefunction = {'label': label, 'n': int(n), 'l': int(l)}
        wavefunction.update(zip(WAVEFUNCTION_FIELDS[3:], (float(number) for number in numbers)))
        wavefunctions.append(wavefunction)
    return {'input': namelists['input'], 'inputp': namelists['inputp'], 'wavefunctions': wavefunctions}


def format_ld1_input(entry: dict, file_pseudopw: str | None = None) -> str:
    """Write the ld1.x input for a table ``entry`` (``input``, ``inputp`` and ``wavefunctions``).

    ``file_pseudopw`` overrides the name of the UPF file that ld1.x writes.
    """
    inputp = dict(entry['inputp'])
    if file_pseudopw is not None:
        inputp['file_pseudopw'] = file_pseudopw
    lines = []
    for name, values in (('input', entry['input']), ('inputp', inputp)):
        lines.append(f' &{name}')
        lines.extend(f'   {key}={format_value(value)},' for key, value in values.items())
        if len(lines[-1]) and lines[-1].endswith(','):
            lines[-1] = lines[-1][:-1]
        lines.append(' /')
    wavefunctions = entry['wavefunctions']
    lines.append(str(len(wavefunctions)))
    for wfc in wavefunctions:
        missing = [field for field in WAVEFUNCTION_FIELDS if field not in wfc]
        if missing:
            raise Ld1InputError(f'wavefunction {wfc} lacks {missing}')
        numbers = ' '.join(_card_number(wfc[field], 5, 2) for field in WAVEFUNCTION_FIELDS[3:7])
        lines.append(f'{wfc["label"]:<2}  {int(wfc["n"])}  {int(wfc["l"])} {numbers} {_card_number(wfc["jj"], 4, 1)}')
    return '\n'.join(lines) + '\n'


def _card_number(value, width: int, decimals: int) -> str:
    """Fixed-point as in the pslibrary inputs (echoed into the UPF), or the exact value if it needs more digits."""
    value = float(value)
    fixed = f'{value:{width}.{decimals}f}'
    return fixed if float(fixed) == value else repr(value)
