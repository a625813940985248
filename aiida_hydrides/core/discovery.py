"""The ranking of a discovery's candidates (no AiiDA here: ``hydrides.discovery`` uses it)."""

from __future__ import annotations

__all__ = ('rank_candidates',)


def _number(value, default=float('-inf')):
    return default if value is None else float(value)


def rank_candidates(rows: list[dict]) -> list[dict]:
    """``rows`` ranked, a ``rank`` (1, 2, ...) set on each: first those with an EPC result (``status == 'done'``) by
    computed Tc (Allen-Dynes, μ* 0.10), highest first; then the dynamically unstable, failed and not computed ones by
    predicted Tc, highest first, and by E_hull (DFT, else LAM), lowest first."""
    done = [row for row in rows if row.get('status') == 'done']
    rest = [row for row in rows if row.get('status') != 'done']
    done.sort(key=lambda row: (-_number(row.get('tc_allen_dynes_K_mu0_10')), row.get('formula') or ''))

    def hull(row):
        value = row.get('ehull_dft_mev')
        return _number(value if value is not None else row.get('ehull_lam_mev'), float('inf'))

    order = {'not computed': 0, 'unstable': 1, 'failed': 2}
    rest.sort(
        key=lambda row: (
            order.get(row.get('status'), 3),
            -_number(row.get('tc_predicted_K')),
            hull(row),
            row.get('formula') or '',
        )
    )
    ranked = [dict(row) for row in done + rest]
    for index, row in enumerate(ranked, start=1):
        row['rank'] = index
    return ranked
