"""``aiida-hydrides tc``: lambda, omega_log, omega_2 and Tc from an a2F.dos file, or from a finished EPC work chain."""

from __future__ import annotations

import pathlib
import re

import click

from aiida_hydrides.cli.utils import echo_json, fail

#: (key in the Tc dictionaries, title in the table), in print order.
FORMULA_TITLES = (
    ('mcmillan', 'McMillan (Dynes)'),
    ('allen_dynes', 'Allen-Dynes f1 f2'),
    ('xie_ml', 'Xie ML 2022'),
    ('eliashberg', 'Eliashberg'),
)
_NODE_IDENTIFIER = re.compile(r'^(\d+|[0-9a-fA-F]{8}(-?[0-9a-fA-F]{1,12}){0,4})$')


def _number(value, digits: int = 2, unit: str = '') -> str:
    if value is None:
        return '-'
    return f'{value:.{digits}f}{unit}'


def _mustar_title(mustar: float) -> str:
    label = f'{mustar:.2f}'
    return label if float(label) == mustar else f'{mustar:g}'


def format_tc_table(tc: dict) -> str:
    """Text table of a Tc dictionary (from ``summarize_spectrum`` or an EPC ``tc`` output): moments, then Tc per formula
    (rows) and mu* (columns). Every ``tc_<formula>_K_mu<mu*>`` key of ``tc`` appears; missing cells print ``-``."""
    from aiida_hydrides.core.superconductivity import parse_tc_key

    cells: dict[tuple[str, float], float | None] = {}
    mustars: list[float] = []
    for key, value in tc.items():
        parsed = parse_tc_key(key)
        if parsed and (value is None or isinstance(value, (int, float))):
            cells[parsed] = value
            if parsed[1] not in mustars:
                mustars.append(parsed[1])
    mustars.sort()
    lines = [f'lambda    = {_number(tc.get("lambda"), 4)}']
    qe = [
        f'{title} {tc[key]:.4f}'
        for key, title in (('lambda_qe_a2f', 'a2F.dos footer'), ('lambda_qsum', 'q-sum'))
        if tc.get(key) is not None
    ]
    if qe:
        lines[0] += f'   (QE {", ".join(qe)})'
    if tc.get('lambda_clipping_change') is not None:
        lines.append(f'clipping  = lambda +{tc["lambda_clipping_change"]:.1%} from setting the negative alpha^2F to 0')
    lines.append(f'omega_log = {_number(tc.get("omega_log_K"), 1, " K")}')
    lines.append(f'omega_2   = {_number(tc.get("omega_2_K"), 1, " K")}')
    if tc.get('el_ph_sigma_ry') is not None:
        lines.append(f'sigma     = {tc["el_ph_sigma_ry"]} Ry')
    if tc.get('sigma_index') is not None:
        lines.append(f'sigma     = index {tc["sigma_index"]} (a2F.dos{tc["sigma_index"]})')
    if tc.get('eliashberg_omega_c_K') is not None:
        lines.append(f'omega_c   = {tc["eliashberg_omega_c_K"]:.1f} K (Eliashberg Matsubara cutoff)')
    lines.append('')
    lines.append('Tc [K]'.ljust(20) + ''.join(f'mu*={_mustar_title(mu)}'.rjust(12) for mu in mustars))
    known = [name for name, _ in FORMULA_TITLES]
    extra = sorted({formula for formula, _ in cells} - set(known))
    for name, title in list(FORMULA_TITLES) + [(name, name) for name in extra]:
        if not any((name, mu) in cells for mu in mustars):
            continue
        row = [cells.get((name, mu)) for mu in mustars]
        cells_text = ''.join(_number(value, 2 if (value or 0) < 10 else 1).rjust(12) for value in row)
        lines.append(title.ljust(20) + cells_text)
    for note in tc.get('notes') or []:
        lines.append(f'note: {note}')
    return '\n'.join(lines)


def _format_lambda_rows(rows, agreement) -> str:
    lines = ['', 'QE lambda file (q-sum over the interpolated grid):']
    lines.append('   i  sigma[Ry]   lambda   omega_ln[K]   dos(Ef)')
    for index, row in enumerate(rows, start=1):
        marker = '  <- this a2F.dos' if agreement and agreement['sigma_index'] == index else ''
        lines.append(
            f'{index:4d}  {row.sigma_ry:9.4f}  {row.lam:7.4f}  {row.omega_log_K:12.2f}  {row.dos_ef:8.4f}{marker}'
        )
    if agreement:
        lines.append(
            f'a2F integral vs q-sum at sigma = {agreement["sigma_ry"]} Ry: '
            f'lambda {agreement["lambda_deviation"]:+.1%}, omega_log {agreement["omega_log_deviation"]:+.1%}'
        )
    return '\n'.join(lines)


def _from_file(path, mustars, eliashberg, lambda_file, omega_c, as_json):
    from aiida_hydrides.core import superconductivity as sc

    try:
        spectrum = sc.read_a2f_dos(path)
        summary = sc.summarize_spectrum(spectrum, mustars=mustars, eliashberg=eliashberg, omega_c_K=omega_c)
        rows = agreement = None
        if lambda_file:
            rows = sc.read_lambda_file(lambda_file)
            if spectrum.sigma_index is not None and spectrum.sigma_index <= len(rows):
                agreement = sc.lambda_file_agreement(spectrum, rows)
    except ValueError as exception:
        fail(str(exception))
    if as_json:
        if rows is not None:
            summary['lambda_file'] = {
                'rows': [
                    {'sigma_ry': r.sigma_ry, 'lambda': r.lam, 'dos_ef': r.dos_ef, 'omega_log_K': r.omega_log_K}
                    for r in rows
                ],
                'agreement': agreement,
            }
        echo_json(summary)
        return
    click.echo(f'a2F file  = {path}')
    click.echo(format_tc_table(summary))
    if rows is not None:
        click.echo(_format_lambda_rows(rows, agreement))


def _from_node(identifier, mustars, as_json):
    from aiida_hydrides.cli.utils import load_profile

    load_profile()
    from aiida.common.exceptions import MultipleObjectsError, NotExistent
    from aiida.orm import load_node

    try:
        node = load_node(identifier)
    except (NotExistent, MultipleObjectsError, ValueError) as exception:
        fail(f'{identifier!r} is neither an existing a2F.dos file nor an AiiDA node: {exception}')
    outputs = getattr(node, 'outputs', None)
    if outputs is None or 'tc' not in outputs:
        fail(
            f'{node.__class__.__name__}<{node.pk}> has no `tc` output; give the pk of a finished '
            f'ElectronPhononWorkChain (process state: {getattr(node, "process_state", None)}, '
            f'exit status: {getattr(node, "exit_status", None)})'
        )
    tc = outputs.tc.get_dict()
    if mustars:
        from aiida_hydrides.core.superconductivity import parse_tc_key

        stored = {parsed[1] for key in tc if (parsed := parse_tc_key(key))}
        missing = [mu for mu in mustars if not any(abs(mu - value) < 1e-9 for value in stored)]
        if missing:
            fail(
                f'the `tc` output of <{node.pk}> has no Tc for mu* = {", ".join(f"{mu:g}" for mu in missing)}; '
                f'stored: {", ".join(f"{mu:g}" for mu in sorted(stored))}'
            )
        tc = {
            key: value
            for key, value in tc.items()
            if not (parsed := parse_tc_key(key)) or any(abs(parsed[1] - mu) < 1e-9 for mu in mustars)
        }
    if as_json:
        echo_json({'pk': node.pk, 'uuid': node.uuid, **tc})
        return
    click.echo(f'{node.process_label if hasattr(node, "process_label") else node.__class__.__name__}<{node.pk}>')
    click.echo(format_tc_table(tc))


@click.command('tc')
@click.argument('source')
@click.option(
    '--mustar',
    '-m',
    'mustars',
    type=float,
    multiple=True,
    help='Coulomb pseudopotential mu*; repeat for several values (default: 0.10 and 0.13).',
)
@click.option('--json', 'as_json', is_flag=True, help='Print all numbers as one JSON object.')
@click.option('--no-eliashberg', is_flag=True, help='Skip the (slower) linearized Eliashberg solution.')
@click.option(
    '--lambda-file',
    type=click.Path(exists=True, dir_okay=False),
    help="QE's `lambda` file from the same matdyn.x run: print its q-sum lambda per smearing and compare.",
)
@click.option(
    '--omega-c',
    type=float,
    default=None,
    help='Matsubara cutoff of the Eliashberg solver in K (default: 10 x the highest phonon frequency).',
)
def tc(source, mustars, as_json, no_eliashberg, lambda_file, omega_c):
    """Superconducting Tc from an Eliashberg function alpha^2F.

    SOURCE is an `a2F.dos<i>` file of matdyn.x (la2F=.true.) or the pk/UUID of a finished ElectronPhononWorkChain.
    Prints lambda, omega_log, omega_2 and Tc for every formula (McMillan-Dynes, Allen-Dynes with f1 f2, the Xie 2022
    ML correction, linearized Eliashberg) and every mu*. Pure file analysis needs no AiiDA profile.
    """
    if pathlib.Path(source).is_file():
        _from_file(source, mustars or (0.10, 0.13), not no_eliashberg, lambda_file, omega_c, as_json)
    elif _NODE_IDENTIFIER.match(source):
        if lambda_file or no_eliashberg or omega_c is not None:
            click.echo(
                'Note: --lambda-file, --no-eliashberg and --omega-c apply to files only; showing the stored result.',
                err=True,
            )
        _from_node(source, mustars, as_json)
    else:
        fail(f'{source!r} is neither an existing a2F.dos file nor an AiiDA node identifier (pk or UUID)')
