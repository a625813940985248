"""The figures of a campaign report, drawn with matplotlib (Agg, no pyplot state) from plain numbers.

* :func:`hull_figure`: the convex hull of formation enthalpy at one pressure: a ternary diagram (A-B-H) with the tie
  lines of the stable phases and the metastable ones coloured by E_hull, or a binary one (A-H: formation enthalpy
  against the hydrogen fraction);
* :func:`tc_ehull_figure`: Tc against E_hull of the computed candidates;
* :func:`a2f_figure`: α²F(ω) and the cumulative λ(ω) of one candidate;
* :func:`funnel_figure`: the number of candidates left after each stage.

Every function returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it as PNG and SVG.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np

from ..compositions import parse_formula
from ..errors import HydridesInputError

__all__ = ('a2f_figure', 'funnel_figure', 'hull_figure', 'save_figure', 'tc_ehull_figure', 'ternary_xy')

#: E_hull (meV/atom) at which the colour scale of metastable phases saturates
EHULL_COLOR_MAX_MEV = 100.0
_SQRT3_2 = math.sqrt(3.0) / 2.0


def _figure(width=6.4, height=4.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout='constrained')
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, directory, stem: str, dpi: int = 120) -> dict:
    """Write ``figure`` as ``<directory>/<stem>.png`` and ``.svg``; return ``{'png': path, 'svg': path}``."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {'png': directory / f'{stem}.png', 'svg': directory / f'{stem}.svg'}
    figure.savefig(paths['png'], dpi=dpi)
    figure.savefig(paths['svg'])
    return paths


def ternary_xy(fractions) -> tuple[float, float]:
    """Cartesian position of the atom fractions ``(a, b, h)`` in the triangle A (0, 0), B (1, 0), H (1/2, √3/2)."""
    a, b, h = (float(value) for value in fractions)
    total = a + b + h
    return (b + 0.5 * h) / total, _SQRT3_2 * h / total


def _hull_points(entries, elements):
    from ..hull import ConvexHull

    hull = ConvexHull(entries, elements=elements)
    points = []
    for point in hull.points:
        counts = parse_formula(point.formula).counts
        total = sum(counts.values())
        points.append(
            {
                'formula': point.reduced_formula,
                'fractions': [counts.get(symbol, 0) / total for symbol in elements],
                'formation_mev': 1000.0 * point.formation_enthalpy_per_atom,
                'e_hull_mev': 1000.0 * point.e_hull,
                'stable': point.stable,
            }
        )
    return points


def _lowest_per_formula(points, stable: bool):
    best = {}
    for point in points:
        if point['stable'] != stable:
            continue
        key = point['formula']
        if key not in best or point['e_hull_mev'] < best[key]['e_hull_mev']:
            best[key] = point
    return list(best.values())


def _tie_lines(stable, xy) -> list:
    """Edges of the lower hull of the stable points (x, y, formation enthalpy)."""
    from scipy.spatial import ConvexHull as QHull
    from scipy.spatial import QhullError

    if len(stable) < 4:
        return [(i, j) for i in range(len(stable)) for j in range(i + 1, len(stable))]
    cloud = np.array([[x, y, point['formation_mev']] for (x, y), point in zip(xy, stable, strict=True)])
    try:
        qhull = QHull(cloud)
    except QhullError:
        return []
    edges = set()
    for simplex, equation in zip(qhull.simplices, qhull.equations, strict=True):
        if equation[2] < -1e-9:  # facets seen from below: the hull of formation enthalpy
            for i in range(3):
                edge = tuple(sorted((int(simplex[i]), int(simplex[(i + 1) % 3]))))
                edges.add(edge)
    return sorted(edges)


def hull_figure(entries, elements, title: str = ''):
    """The convex hull of ``entries`` (``(formula, enthalpy per atom in eV, id)`` tuples, elemental references
    included) over ``elements``: two elements besides H give a ternary diagram, one a binary diagram.

    :raises HydridesInputError: for other element counts, or a reference missing (the hull's own error).
    """
    elements = [symbol for symbol in elements if symbol != 'H'] + ['H']
    if len(elements) not in (2, 3):
        raise HydridesInputError(f'a hull figure needs one or two elements besides H, got {"-".join(elements)}')
    points = _hull_points(entries, elements)
    figure = _figure(6.4, 5.6 if len(elements) == 3 else 4.6)
    axes = figure.add_subplot()
    stable = sorted(_lowest_per_formula(points, True), key=lambda point: point['fractions'])
    metastable = _lowest_per_formula(points, False)
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    norm = Normalize(0.0, EHULL_COLOR_MAX_MEV)
    cmap = colormaps['viridis_r']
    if len(elements) == 3:
        corners = [ternary_xy(corner) for corner in ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0))]
        axes.plot(*zip(*corners, strict=True), color='0.3', lw=1.0)
        xy_stable = [ternary_xy(point['fractions']) for point in stable]
        for i, j in _tie_lines(stable, xy_stable):
            axes.plot(*zip(xy_stable[i], xy_stable[j], strict=True), color='0.45', lw=0.8, zorder=1)
        xy_meta = [ternary_xy(point['fractions']) for point in metastable]
        for symbol, corner, (ha, va, offset) in zip(
            elements,
            corners[:3],
            (('right', 'top', (-6, -6)), ('left', 'top', (6, -6)), ('center', 'bottom', (0, 8))),
            strict=True,
        ):
            axes.annotate(
                symbol, corner, xytext=offset, textcoords='offset points', ha=ha, va=va, fontsize=12, fontweight='bold'
            )
        axes.set_aspect('equal')
        axes.set_axis_off()
    else:
        xy_stable = [(point['fractions'][1], point['formation_mev']) for point in stable]
        axes.plot(*zip(*sorted(xy_stable), strict=True), color='0.45', lw=1.0, zorder=1)
        xy_meta = [(point['fractions'][1], point['formation_mev']) for point in metastable]
        axes.set_xlabel(f'H fraction in {elements[0]}$_{{1-x}}$H$_x$')
        axes.set_ylabel('formation enthalpy (meV/atom)')
        axes.axhline(0.0, color='0.7', lw=0.6)
    if metastable:
        scatter = axes.scatter(
            *zip(*xy_meta, strict=True),
            c=[min(point['e_hull_mev'], EHULL_COLOR_MAX_MEV) for point in metastable],
            cmap=cmap,
            norm=norm,
            s=28,
            marker='o',
            edgecolors='0.2',
            linewidths=0.4,
            zorder=2,
            label='metastable',
        )
        figure.colorbar(scatter, ax=axes, shrink=0.7, label=f'E_hull (meV/atom, ≥{EHULL_COLOR_MAX_MEV:g} clipped)')
    axes.scatter(*zip(*xy_stable, strict=True), s=46, marker='s', color='black', zorder=3, label='stable')
    compounds = [
        (xy, point)
        for xy, point in zip(xy_stable, stable, strict=True)
        if len(parse_formula(point['formula']).elements) > 1
    ]
    for index, ((x, y), point) in enumerate(sorted(compounds, key=lambda item: item[0])):
        # neighbouring labels (hydrides crowd near the H corner) alternate above and below their point
        offset = (4, 5) if index % 2 == 0 else (4, -11)
        axes.annotate(point['formula'], (x, y), xytext=offset, textcoords='offset points', fontsize=8)
    axes.legend(loc='upper right', fontsize=8, frameon=False)
    axes.set_title(title or f'{"-".join(elements)} convex hull')
    return figure


def tc_ehull_figure(rows, title: str = ''):
    """Tc (K) against E_hull (meV/atom) of ``rows`` (dicts with ``formula``, ``tc_K``, ``ehull_mev`` and
    ``ehull_method``: ``dft`` or ``lam``).

    :raises HydridesInputError: when no row has both values.
    """
    rows = [row for row in rows if _finite(row.get('tc_K')) and _finite(row.get('ehull_mev'))]
    if not rows:
        raise HydridesInputError('no candidate has both a computed Tc and an E_hull')
    figure = _figure(6.4, 4.6)
    axes = figure.add_subplot()
    for method, marker, label in (('dft', 'o', 'E_hull with DFT'), ('lam', '^', 'E_hull with the LAM')):
        chosen = [row for row in rows if row.get('ehull_method') == method]
        if chosen:
            axes.scatter(
                [row['ehull_mev'] for row in chosen],
                [row['tc_K'] for row in chosen],
                marker=marker,
                s=40,
                label=label,
                zorder=2,
            )
    for row in rows:
        axes.annotate(row['formula'], (row['ehull_mev'], row['tc_K']), xytext=(4, 3), textcoords='offset points')
    axes.set_xlabel('E_hull (meV/atom)')
    axes.set_ylabel('Tc (K)')
    low = min(row['ehull_mev'] for row in rows)
    high = max(row['ehull_mev'] for row in rows)
    margin = max(5.0, 0.12 * (high - low))
    axes.set_xlim(min(-5.0, low - margin), high + 2 * margin)  # room for the labels on the right
    axes.set_ylim(0.0, 1.15 * max(row['tc_K'] for row in rows) + 1.0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, frameon=False, loc='lower right')
    axes.set_title(title or 'Tc against E_hull of the computed candidates')
    return figure


def a2f_figure(omega_mev, a2f, lambda_cumulative=None, title: str = ''):
    """α²F(ω) and the cumulative λ(ω) (computed from α²F when not given) against ω in meV."""
    from ..superconductivity import lambda_cumulative as running_lambda

    omega = np.asarray(omega_mev, dtype=float)
    a2f = np.asarray(a2f, dtype=float)
    if lambda_cumulative is None:
        lambda_cumulative = running_lambda(omega, a2f)
    figure = _figure(6.4, 3.8)
    axes = figure.add_subplot()
    axes.fill_between(omega, 0.0, np.clip(a2f, 0.0, None), color='tab:blue', alpha=0.35, lw=0)
    axes.plot(omega, a2f, color='tab:blue', lw=1.0)
    axes.set_xlabel('ω (meV)')
    axes.set_ylabel('α²F(ω)', color='tab:blue')
    axes.set_xlim(0.0, float(omega.max()) if omega.size else 1.0)
    axes.set_ylim(bottom=0.0)
    twin = axes.twinx()
    twin.plot(omega, lambda_cumulative, color='tab:red', lw=1.5)
    twin.set_ylabel('λ(ω)', color='tab:red')
    twin.set_ylim(bottom=0.0)
    axes.set_title(title)
    return figure


def funnel_figure(stages, title: str = ''):
    """Horizontal bars: ``stages`` is a sequence of ``(name, count)``, the first stage at the top."""
    stages = list(stages)
    if not stages:
        raise HydridesInputError('the funnel has no stage')
    figure = _figure(6.4, 0.9 + 0.45 * len(stages))
    axes = figure.add_subplot()
    names = [name for name, _ in stages]
    counts = [count for _, count in stages]
    positions = np.arange(len(stages))[::-1]
    axes.barh(positions, counts, color='tab:green', alpha=0.8)
    for position, count in zip(positions, counts, strict=True):
        axes.annotate(str(count), (count, position), xytext=(4, 0), textcoords='offset points', va='center')
    axes.set_yticks(positions, names)
    axes.set_xlabel('candidates')
    axes.set_xlim(0, max(max(counts), 1) * 1.15)
    axes.set_title(title or 'Candidates left after each stage')
    return figure


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
