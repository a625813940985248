"""The HTML page of a campaign report: sections of figures (PNG shown, SVG linked, both by relative paths, so that the
folder can be moved or zipped as it is), notes on the figures left out, and tables. Plain text in, one string out."""

from __future__ import annotations

import dataclasses
import html

__all__ = ('FigureEntry', 'Section', 'render_page')

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
figure { display: inline-block; width: calc(50% - 1.5em); min-width: 320px; margin: 0.5em 1em 1em 0;
         vertical-align: top; }
figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
p.skipped { color: #8a5a00; background: #fff6e0; padding: 0.4em 0.6em; border-left: 3px solid #e0a800; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; }
th { background: #f4f4f4; } td.text { text-align: left; }
"""


@dataclasses.dataclass
class FigureEntry:
    """A figure: its PNG and SVG paths relative to the page, and a caption."""

    png: str
    svg: str
    caption: str
    alt: str = ''


@dataclasses.dataclass
class Section:
    """A section of the page: a title, an optional paragraph, figures, notes on what was left out and tables
    (``(header, rows)`` with cells as text)."""

    title: str
    text: str = ''
    figures: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    tables: list = dataclasses.field(default_factory=list)
    anchor: str = ''


def _table(header, rows) -> str:
    head = ''.join(f'<th>{html.escape(str(cell))}</th>' for cell in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            text = str(cell)
            numeric = text.replace('.', '', 1).replace('-', '', 1).replace('±', '').replace(' ', '').isdigit()
            cls = '' if numeric or text == '-' else ' class="text"'
            cells.append(f'<td{cls}>{html.escape(text)}</td>')
        body.append(f'<tr>{"".join(cells)}</tr>')
    return f'<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + '\n'.join(body) + '\n</tbody>\n</table>'


def _figure(entry: FigureEntry) -> str:
    src, svg = html.escape(entry.png, quote=True), html.escape(entry.svg, quote=True)
    alt = html.escape(entry.alt or entry.caption, quote=True)
    return (
        f'<figure>\n<img src="{src}" alt="{alt}">\n'
        f'<figcaption>{html.escape(entry.caption)} (<a href="{svg}">SVG</a>)</figcaption>\n</figure>'
    )


def render_page(title: str, summary: list, sections: list) -> str:
    """The HTML page: ``title``, ``summary`` lines (a list under the title), then every :class:`Section`."""
    parts = [
        '<!DOCTYPE html>',
        '<html lang="en">',
        '<head>',
        '<meta charset="utf-8">',
        f'<title>{html.escape(title)}</title>',
        f'<style>{_STYLE}</style>',
        '</head>',
        '<body>',
        f'<h1>{html.escape(title)}</h1>',
    ]
    if summary:
        parts.append('<ul class="summary">')
        parts.extend(f'<li>{html.escape(line)}</li>' for line in summary)
        parts.append('</ul>')
    for section in sections:
        anchor = f' id="{html.escape(section.anchor, quote=True)}"' if section.anchor else ''
        parts.append(f'<section{anchor}>')
        parts.append(f'<h2>{html.escape(section.title)}</h2>')
        if section.text:
            parts.append(f'<p>{html.escape(section.text)}</p>')
        parts.extend(_figure(entry) for entry in section.figures)
        parts.extend(f'<p class="skipped">{html.escape(note)}</p>' for note in section.skipped)
        parts.extend(_table(header, rows) for header, rows in section.tables)
        parts.append('</section>')
    parts.extend(['</body>', '</html>', ''])
    return '\n'.join(parts)
