"""Generate pslibrary pseudopotentials with ``ld1.x`` from the parameter table.

Every element runs in its own temporary directory; only the validated UPF file is copied to the destination.
ld1.x exits with status 0 even when the generation failed, so each result is validated: a UPF file is written, its
``PP_HEADER`` has ``z_valence > 0``, and the ld1.x output reports no error. A failing element is reported in the
:class:`GenerationResult`; it never stops the other elements.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

from .ld1_input import Ld1InputError, format_ld1_input
from .table import PseudoTableError, check_kind, get_entry, load_table
from .upf import UpfError, read_upf_header

#: the fix printed when ld1.x is missing
INSTALL_HINT = 'install Quantum ESPRESSO, e.g. `apt-get install quantum-espresso`'

# "final scf error: 1.6E-15 reached in 21 iterations" is a convergence report, not an error
_ERROR_LINE = re.compile(r'error', re.IGNORECASE)
_BENIGN_ERROR_LINE = re.compile(r'scf error\s*:', re.IGNORECASE)


class Ld1NotFoundError(FileNotFoundError):
    """The ``ld1.x`` executable is not installed."""


@dataclasses.dataclass
class ElementResult:
    """The outcome of generating the pseudopotential of one element."""

    element: str
    ok: bool
    name: str | None = None
    path: pathlib.Path | None = None
    z_valence: float | None = None
    wfc_cutoff: float | None = None
    rho_cutoff: float | None = None
    reason: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data['path'] = str(self.path) if self.path else None
        return data


@dataclasses.dataclass
class GenerationResult:
    """The outcome of generating a set of pseudopotentials: one :class:`ElementResult` per element."""

    kind: str
    destination: pathlib.Path
    results: dict[str, ElementResult] = dataclasses.field(default_factory=dict)

    @property
    def succeeded(self) -> dict[str, ElementResult]:
        return {element: result for element, result in self.results.items() if result.ok}

    @property
    def failed(self) -> dict[str, ElementResult]:
        return {element: result for element, result in self.results.items() if not result.ok}

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """One line per failure, or a line saying that every element was generated."""
        if self.ok:
            return f'{len(self.results)} {self.kind.upper()} pseudopotentials generated in {self.destination}'
        lines = [f'{len(self.failed)} of {len(self.results)} {self.kind.upper()} pseudopotentials failed:']
        lines.extend(f'  {element}: {result.reason}' for element, result in sorted(self.failed.items()))
        return '\n'.join(lines)


def find_ld1(executable: str = 'ld1.x') -> str:
    """Full path of ``ld1.x``, or :class:`Ld1NotFoundError` with the fix."""
    path = shutil.which(executable)
    if path is None:
        raise Ld1NotFoundError(f'the pseudopotential generator `{executable}` is not on the PATH; {INSTALL_HINT}')
    return path


def ld1_environment(workdir: str | os.PathLike | None = None) -> dict:
    """Environment for ld1.x: one OpenMP thread; root may initialise OpenMPI (ld1.x is linked against MPI). With
    ``workdir``, OpenMPI keeps its session directory there (``TMPDIR``): several ld1.x started at the same moment
    would otherwise race to create the same one in /tmp ("File exists")."""
    env = dict(os.environ)
    if workdir is not None:
        env['TMPDIR'] = str(workdir)
    env.setdefault('OMP_NUM_THREADS', '1')
    env.setdefault('OMPI_ALLOW_RUN_AS_ROOT', '1')
    env.setdefault('OMPI_ALLOW_RUN_AS_ROOT_CONFIRM', '1')
    return env


def find_errors(output: str) -> list[str]:
    """Errors reported in an ld1.x output, most telling first: the QE error block (``Error in routine ...``), then
    every line that mentions an error (the converged 'scf error' lines excepted)."""
    errors = []
    block = re.search(r'%{20,}\n(.*?)\n\s*%{20,}', output, re.DOTALL)
    if block:
        errors.append(' '.join(line.strip() for line in block.group(1).splitlines() if line.strip()))
    errors.extend(
        line.strip()
        for line in output.splitlines()
        if _ERROR_LINE.search(line) and not _BENIGN_ERROR_LINE.search(line) and line.strip() not in errors[:1]
    )
    return errors


def generate_pseudo(
    element: str,
    destination: str | pathlib.Path,
    kind: str = 'us',
    *,
    table: dict | None = None,
    executable: str = 'ld1.x',
    timeout: float = 300.0,
) -> ElementResult:
    """Generate, validate and copy to ``destination`` the pseudopotential of one ``element``; never raises for a
    failed generation (see :attr:`ElementResult.reason`), only for a missing ``ld1.x``."""
    start = time.monotonic()
    executable = find_ld1(executable)
    destination = pathlib.Path(destination)

    def failure(reason: str, name: str | None = None) -> ElementResult:
        return ElementResult(element, False, name=name, reason=reason, seconds=time.monotonic() - start)

    try:
        entry = get_entry(element, kind, table)
        filename = f'{entry["name"]}.UPF'
        ld1_input = format_ld1_input(entry, file_pseudopw=filename)
    except (PseudoTableError, Ld1InputError, KeyError, TypeError, ValueError) as exc:
        return failure(f'invalid table entry: {exc}')

    with tempfile.TemporaryDirectory(prefix=f'ld1-{element}-') as workdir:
        workdir = pathlib.Path(workdir)
        (workdir / 'ld1.in').write_text(ld1_input)
        try:
            process = subprocess.run(
                [executable],
                input=ld1_input,
                capture_output=True,
                text=True,
                cwd=workdir,
                env=ld1_environment(workdir),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return failure(f'ld1.x did not finish within {timeout:.0f} s', entry['name'])
        output = process.stdout + process.stderr
        upf = workdir / filename
        errors = find_errors(output)
        if process.returncode != 0:
            detail = errors[0] if errors else _tail(output)
            return failure(f'ld1.x exited with status {process.returncode}: {detail}', entry['name'])
        if not upf.is_file():
            return failure(f'ld1.x wrote no {filename}: {errors[0] if errors else _tail(output)}', entry['name'])
        try:
            header = read_upf_header(upf)
        except UpfError as exc:
            return failure(f'unreadable UPF: {exc}', entry['name'])
        if not header['z_valence'] > 0:
            detail = f' ({errors[0]})' if errors else ''
            return failure(f'invalid pseudopotential: z_valence = {header["z_valence"]:g}{detail}', entry['name'])
        if errors:
            return failure(f'ld1.x reported: {errors[0]}', entry['name'])
        if header['element'] != element:
            return failure(f'the UPF is for element {header["element"]!r}, not {element!r}', entry['name'])

        destination.mkdir(parents=True, exist_ok=True)
        target = destination / filename
        shutil.copyfile(upf, target)

    return ElementResult(
        element,
        True,
        name=entry['name'],
        path=target,
        z_valence=header['z_valence'],
        wfc_cutoff=header.get('wfc_cutoff'),
        rho_cutoff=header.get('rho_cutoff'),
        seconds=time.monotonic() - start,
    )


def generate_pseudos(
    elements,
    destination: str | pathlib.Path,
    kind: str = 'us',
    *,
    table: dict | None = None,
    executable: str = 'ld1.x',
    workers: int | None = None,
    timeout: float = 300.0,
) -> GenerationResult:
    """Generate the pseudopotentials of ``elements`` into ``destination`` (``workers`` ld1.x runs at a time).

    Raises :class:`Ld1NotFoundError` when ld1.x is missing; every other problem is a per-element failure.
    """
    kind = check_kind(kind)
    find_ld1(executable)
    table = table if table is not None else load_table()
    destination = pathlib.Path(destination)
    elements = list(dict.fromkeys(elements))
    workers = workers or 4  # ld1.x mostly waits on its MPI start-up: more runs than cores pay off
    result = GenerationResult(kind=kind, destination=destination)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {
            element: pool.submit(
                generate_pseudo, element, destination, kind, table=table, executable=executable, timeout=timeout
            )
            for element in elements
        }
        for element, future in futures.items():
            result.results[element] = future.result()
    return result


def _tail(output: str, lines: int = 3) -> str:
    return ' | '.join(line.strip() for line in output.strip().splitlines()[-lines:]) or '(no output)'
