"""The report of a discovery campaign: an HTML page with its figures, written by :func:`write_report` from the
structures of a group (read with QueryBuilder, as :mod:`aiida_hydrides.candidates` reads them).

``<directory>/index.html`` shows, with ``<directory>/figures/*.png`` (and a link to the same figure as SVG):

1. the convex hull at each pressure of the campaign, one diagram per chemical system and method (LAM and DFT
   enthalpies), with its stable phases, tie lines and metastable phases coloured by E_hull;
2. Tc against E_hull of the candidates with a computed Tc;
3. α²F(ω) and λ(ω) of each candidate with a finished electron-phonon calculation (the ``a2f`` output of its
   ``hydrides.epc`` work chain), the highest Tc first;
4. the funnel: the candidates left after each stage (screen stages, Tc model, selection, EPC);
5. the table of candidates.

A figure without data (no EPC yet, a hull without its elemental references) is left out, and a line on the page says
why. Every path in the page is relative: the folder can be moved, zipped or served as it is.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re

__all__ = ('ReportResult', 'write_report')

#: most α²F figures on a page (the candidates with the highest Tc)
MAX_A2F_FIGURES = 12
#: most rows of the candidates table
MAX_TABLE_ROWS = 100
_STAGE_NAMES = {
    'lam_hull': 'E_hull(LAM)',
    'symmetry': 'space group',
    'atomic_h': 'atomic H',
    'lam_phonons': 'LAM phonons',
    'dft_hull': 'E_hull(DFT)',
}


@dataclasses.dataclass
class ReportResult:
    """What :func:`write_report` wrote: the page, the figure stems and the notes on the figures left out."""

    index: pathlib.Path
    figures: list
    skipped: list
    candidates: int


def _stem(*parts) -> str:
    text = '_'.join(str(part) for part in parts if part not in (None, ''))
    return re.sub(r'[^A-Za-z0-9.+-]+', '_', text).strip('_')


def _missing(value) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class _Writer:
    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self.figures_dir = directory / 'figures'
        self.written = []

    def save(self, figure, stem: str, caption: str):
        from aiida_hydrides.core.report import FigureEntry, save_figure

        save_figure(figure, self.figures_dir, stem)
        self.written.append(stem)
        return FigureEntry(png=f'figures/{stem}.png', svg=f'figures/{stem}.svg', caption=caption, alt=caption)


def _hull_sections(writer, frame, structures, roots):
    """One figure per pressure, chemical system (one or two elements besides H) and method."""
    from aiida_hydrides.candidates import parse_system_elements, root_enthalpies
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.report import Section, hull_figure

    section = Section('Convex hull', anchor='hull')
    section.text = (
        'Formation enthalpy hull at the campaign pressure: stable phases (black squares, joined by tie lines) and '
        'metastable phases coloured by their energy above the hull, with LAM and with DFT enthalpies.'
    )
    lam, dft = root_enthalpies(structures, roots)
    if frame.empty:
        section.skipped.append('Convex hull left out: the group holds no candidate hydride.')
        return section
    systems = {}
    for system, pressure in zip(frame['system'], frame['pressure_gpa'], strict=True):
        if not _finite(pressure):
            continue
        systems.setdefault(round(float(pressure), 6), set()).add(parse_system_elements(system))
    if not systems:
        section.skipped.append('Convex hull left out: no candidate records its pressure.')
    for pressure, found in sorted(systems.items()):
        maximal = [elements for elements in found if not any(elements < other for other in found)]
        for elements in sorted(maximal, key=sorted):
            name = '-'.join(sorted(elements)) + '-H'
            if len(elements) > 2:
                section.skipped.append(
                    f'Convex hull of {name} at {pressure:g} GPa left out: a diagram shows two elements besides H at '
                    'most.'
                )
                continue
            allowed = elements | {'H'}
            for method, enthalpies in (('LAM', lam), ('DFT', dft)):
                entries = [
                    (''.join(f'{s}{n}' for s, n in counts.items()), enthalpy, uuid)
                    for uuid, (counts, enthalpy, entry_pressure) in enthalpies.items()
                    if abs(entry_pressure - pressure) < 1e-6 and set(counts) <= allowed
                ]
                shown, shown_name, note = elements, name, ''
                # an element without its reference at this method (the cascade computes DFT only within the
                # survivors' subsystems): the hull of the subsystem whose references are all there
                references = {
                    next(iter(enthalpies[uuid][0])) for _, _, uuid in entries if len(enthalpies[uuid][0]) == 1
                }
                lacking = elements - references
                if lacking and 'H' in references and elements & references:
                    shown = elements & references
                    shown_name = '-'.join(sorted(shown)) + '-H'
                    note = f'; the {shown_name} subsystem: no {method} enthalpy of {", ".join(sorted(lacking))}'
                    entries = [entry for entry in entries if set(enthalpies[entry[2]][0]) <= shown | {'H'}]
                label = f'Convex hull of {shown_name} at {pressure:g} GPa with {method} enthalpies'
                if not any(len(counts) > 1 for counts, _, _ in (enthalpies[uuid] for _, _, uuid in entries)):
                    section.skipped.append(f'{label} left out: no compound has a {method} enthalpy.')
                    continue
                try:
                    figure = hull_figure(entries, sorted(shown), title=f'{shown_name}, {pressure:g} GPa, {method}')
                except HydridesInputError as exception:
                    section.skipped.append(f'{label} left out: {exception}')
                    continue
                stem = _stem('hull', method.lower(), shown_name, f'{pressure:g}GPa')
                section.figures.append(writer.save(figure, stem, f'{label} ({len(entries)} structures{note}).'))
    return section


def _tc_section(writer, frame, tc_label):
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.report import Section, tc_ehull_figure

    section = Section('Tc against E_hull', anchor='tc-ehull')
    rows = []
    for record in frame.to_dict('records'):
        dft = _finite(record['ehull_dft_mev'])
        rows.append(
            {
                'formula': record['formula'],
                'tc_K': record['tc_K'],
                'ehull_mev': record['ehull_dft_mev'] if dft else record['ehull_lam_mev'],
                'ehull_method': 'dft' if dft else 'lam',
            }
        )
    try:
        figure = tc_ehull_figure(rows, title=f'Tc ({tc_label}) against E_hull')
    except HydridesInputError as exception:
        section.skipped.append(f'Tc against E_hull left out: {exception}.')
        return section
    count = sum(1 for row in rows if _finite(row['tc_K']) and _finite(row['ehull_mev']))
    section.figures.append(
        writer.save(figure, 'tc_vs_ehull', f'Tc ({tc_label}) against E_hull of {count} computed candidate(s).')
    )
    return section


def _a2f_data(epc_uuid):
    """``(omega in meV, α²F, λ(ω) or None)`` of the ``a2f`` output of the EPC work chain ``epc_uuid``, or a reason."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        node = orm.load_node(uuid=epc_uuid)
    except NotExistent:
        return f'its EPC work chain {epc_uuid} is not in this profile'
    if 'a2f' not in node.outputs:
        return f'its EPC work chain <{node.pk}> has no a2f output'
    xy = node.outputs.a2f
    _, omega, _ = xy.get_x()
    arrays = {name: values for name, values, _ in xy.get_y()}
    a2f = arrays.get('a2F', next(iter(arrays.values()), None))
    if a2f is None:
        return f'the a2f output of EPC work chain <{node.pk}> holds no α²F array'
    return omega, a2f, arrays.get('lambda_cumulative')


def _a2f_section(writer, frame, structures):
    from aiida_hydrides.candidates import epc_record
    from aiida_hydrides.core.report import Section, a2f_figure
    from aiida_hydrides.core.superconductivity import SpectrumError

    section = Section('Eliashberg function α²F(ω) and λ(ω)', anchor='a2f')
    done = frame[frame['status'] == 'epc done']
    if done.empty:
        section.skipped.append('α²F figures left out: no candidate has a finished electron-phonon calculation yet.')
        return section
    if len(done) > MAX_A2F_FIGURES:
        section.text = f'The {MAX_A2F_FIGURES} candidates with the highest Tc of {len(done)} computed.'
    for record in done.head(MAX_A2F_FIGURES).to_dict('records'):
        symmetry = '' if _missing(record['space_group']) else f' {record["space_group"]}'
        name = f'{record["formula"]}{symmetry} ({record["uuid"][:8]})'
        epc_uuid = epc_record(structures[record['uuid']].tags).get('epc_uuid')
        data = _a2f_data(epc_uuid) if epc_uuid else 'its EPC record names no work chain'
        if isinstance(data, str):
            section.skipped.append(f'α²F of {name} left out: {data}.')
            continue
        omega, a2f, cumulative = data
        tc = f', Tc {record["tc_K"]:.0f} K' if _finite(record['tc_K']) else ''
        lam = f'λ = {record["lambda"]:.2f}' if _finite(record['lambda']) else ''
        try:
            figure = a2f_figure(omega, a2f, cumulative, title=f'{name}: {lam}{tc}')
        except (SpectrumError, ValueError) as exception:
            section.skipped.append(f'α²F of {name} left out: {exception}.')
            continue
        stem = _stem('a2f', record['formula'], record['uuid'][:8])
        section.figures.append(writer.save(figure, stem, f'α²F(ω) and λ(ω) of {name}.'))
    return section


def funnel_counts(frame, structures) -> list:
    """``(stage, count)`` of the candidates left after each stage that any candidate reached."""
    from aiida_hydrides.core.screening import STAGES

    tags = [structures[uuid].tags for uuid in frame['uuid']]
    counts = [('hydride candidates', len(tags))]
    screens = [tag.get('screen') or {} for tag in tags]
    present = [stage for stage in STAGES if any(stage in screen for screen in screens)]
    for index, stage in enumerate(present):
        needed = present[: index + 1]
        left = sum(1 for screen in screens if all((screen.get(name) or {}).get('passed') for name in needed))
        counts.append((f'screen: {_STAGE_NAMES.get(stage, stage)}', left))
    if frame['tc_pred_K'].notna().any():
        counts.append(('Tc predicted', int(frame['tc_pred_K'].notna().sum())))
    if frame['rank'].notna().any():
        counts.append(('selected', int(frame['rank'].notna().sum())))
    computed = frame['status'].isin(['epc done', 'epc unstable', 'epc failed'])
    if computed.any():
        counts.append(('EPC computed', int(computed.sum())))
        counts.append(('EPC: dynamically stable', int((frame['status'] == 'epc done').sum())))
    return counts


def _funnel_section(writer, frame, structures):
    from aiida_hydrides.core.report import Section, funnel_figure

    section = Section('Funnel', anchor='funnel')
    if frame.empty:
        section.skipped.append('Funnel left out: the group holds no candidate hydride.')
        return section
    counts = funnel_counts(frame, structures)
    section.figures.append(writer.save(funnel_figure(counts), 'funnel', 'Candidates left after each stage.'))
    section.tables.append((('stage', 'candidates'), [(name, str(count)) for name, count in counts]))
    return section


def _table_section(frame):
    from aiida_hydrides.core.report import Section

    section = Section('Candidates', anchor='candidates')
    if frame.empty:
        section.skipped.append('No candidate hydride in the group.')
        return section
    from aiida_hydrides.candidates import DISPLAY

    order = ('formula', 'space_group', 'pressure_gpa', 'natoms', 'ehull_lam_mev', 'ehull_dft_mev', 'tc_K', 'lambda')
    order += ('omega_log_K', 'tc_pred_K', 'tc_pred_spread_K', 'rank', 'status', 'uuid')
    columns = [(name, DISPLAY[name][1], str if name == 'uuid' else DISPLAY[name][2]) for name in order]
    import pandas as pd

    shown = [spec for spec in columns if frame[spec[0]].notna().any()]
    rows = []
    for record in frame.head(MAX_TABLE_ROWS).to_dict('records'):
        rows.append(['-' if pd.isna(record[name]) else fmt(record[name]) for name, _, fmt in shown])
    if len(frame) > MAX_TABLE_ROWS:
        section.text = f'The first {MAX_TABLE_ROWS} of {len(frame)} (`aiida-hydrides candidates` lists them all).'
    section.tables.append(([header for _, header, _ in shown], rows))
    return section


def write_report(group, directory, *, tc_formula: str = 'allen_dynes', mu_star: float = 0.10) -> ReportResult:
    """Write the report of ``group`` (a group, or its label, PK or UUID) into ``directory``: ``index.html`` and
    ``figures/`` (the PNG and SVG files already in ``figures/`` are replaced).

    :raises aiida_hydrides.candidates.CandidatesError: when the group does not exist.
    """
    from aiida_hydrides.candidates import candidates, resolve_group, select_structures, structure_roots
    from aiida_hydrides.core.report import render_page

    group = resolve_group(group)
    if group is None:
        from aiida_hydrides.candidates import CandidatesError

        raise CandidatesError('a report needs a group')
    directory = pathlib.Path(directory)
    writer = _Writer(directory)
    if writer.figures_dir.is_dir():
        for path in list(writer.figures_dir.glob('*.png')) + list(writer.figures_dir.glob('*.svg')):
            path.unlink()
    structures = select_structures(group)
    roots = structure_roots(structures)
    frame = candidates(group, tc_formula=tc_formula, mu_star=mu_star, sort='tc')
    tc_label = f'{tc_formula.replace("_", "-")}, μ* {mu_star:g}'
    sections = [
        _funnel_section(writer, frame, structures),
        _hull_sections(writer, frame, structures, roots),
        _tc_section(writer, frame, tc_label),
        _a2f_section(writer, frame, structures),
        _table_section(frame),
    ]
    pressures = sorted({float(value) for value in frame['pressure_gpa'] if _finite(value)})
    systems = sorted(set(frame['system']))
    computed = int((frame['status'] == 'epc done').sum())
    summary = [
        f'Group {group.label!r} (PK {group.pk}, UUID {group.uuid}): {len(frame)} candidate hydride(s)'
        + (f' of {", ".join(systems)}' if systems else '')
        + (f' at {", ".join(f"{p:g}" for p in pressures)} GPa' if pressures else ''),
        f'{computed} with a finished electron-phonon calculation; Tc by {tc_label}.',
    ]
    if not frame.empty and _finite(frame.iloc[0]['tc_K']):
        best = frame.iloc[0]
        summary.append(f'Highest computed Tc: {best["tc_K"]:.0f} K ({best["formula"]}, {best["uuid"]}).')
    skipped = [note for section in sections for note in section.skipped]
    page = render_page(f'aiida-hydrides campaign report: {group.label}', summary, sections)
    directory.mkdir(parents=True, exist_ok=True)
    index = directory / 'index.html'
    index.write_text(page, encoding='utf-8')
    return ReportResult(index=index, figures=list(writer.written), skipped=skipped, candidates=len(frame))
