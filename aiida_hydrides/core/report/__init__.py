"""The figures and the HTML page of a campaign report, from plain numbers (no AiiDA): :mod:`.figures` draws with
matplotlib's Agg canvas, :mod:`.html` writes the page. :mod:`aiida_hydrides.report` gathers the data of a group and
calls them."""

from .figures import a2f_figure, funnel_figure, hull_figure, save_figure, tc_ehull_figure, ternary_xy
from .html import FigureEntry, Section, render_page

__all__ = (
    'FigureEntry',
    'Section',
    'a2f_figure',
    'funnel_figure',
    'hull_figure',
    'render_page',
    'save_figure',
    'tc_ehull_figure',
    'ternary_xy',
)
