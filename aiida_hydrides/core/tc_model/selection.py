"""Two-stage selection of screened candidates for electron-phonon calculations, and its replay on a labelled set.

* **Stage 1** ranks candidates by priority rules that need no Tc model: the hydrogen share of N(E_F) (from an EPC or
  a cheap SCF with projwfc.x), high symmetry and few atoms in the cell. The rules have strict priorities: the score is
  ``4·[H share of N(E_F) >= h_dos_share_min] + 2·[space group >= space_group_min] + 1·[natoms <= natoms_max]`` plus a
  tie-break below 1 (the H share of N(E_F), or the share of the atoms that are H where N(E_F) is unknown), so a
  candidate passing a rule always comes before one that fails it and passes only rules of lower priority. A rule
  whose value a candidate lacks counts as not passed, and the choice says that it was unknown.
* **Stage 2** ranks the rest by the predicted Tc, ``tc_mean + kappa·tc_spread`` (``kappa = 0``: the mean alone;
  ``kappa > 0``: an upper confidence bound that favours structures the model ensemble disagrees on). A lower E_hull
  breaks ties; ``e_hull_max_mev`` leaves out candidates above it. Candidates without a prediction are left out.

Every choice is a :class:`Choice`, ``{name, stage, rule, score, rank}`` (plus the values it was made from), so that it
can be stored and queried. :func:`replay` plays the two-stage selection with a budget on a labelled set whose
predictions are out-of-fold (made by models that did not see the structure), against stage 1 alone, stage 2 alone and
uniform random choice (exact expectation and hypergeometric tail).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable, Mapping, Sequence

from ..errors import HydridesInputError

__all__ = (
    'STAGE1_RULES',
    'Candidate',
    'Choice',
    'Stage1Rules',
    'expected_random_share',
    'random_at_least_probability',
    'rank_stage1',
    'rank_stage2',
    'replay',
    'stage2_rule',
    'top_names',
    'two_stage',
)

#: the stage-1 rules, highest priority first, with their weight in the score
STAGE1_RULES = {'h_dos_share': 4, 'symmetry': 2, 'few_atoms': 1}
#: the tie-break of stage 1 stays below the smallest rule weight
_TIE_CAP = 0.999


@dataclasses.dataclass(frozen=True)
class Stage1Rules:
    """Thresholds of the stage-1 priority rules.

    :param h_dos_share_min: the hydrogen share of N(E_F) a candidate needs to pass ``h_dos_share``
    :param space_group_min: the smallest space group number that passes ``symmetry`` (195: cubic)
    :param natoms_max: the most atoms in the cell that pass ``few_atoms`` (the cost of an EPC grows steeply with them)
    """

    h_dos_share_min: float = 0.4
    space_group_min: int = 195
    natoms_max: int = 12

    def __post_init__(self):
        if not 0 <= self.h_dos_share_min <= 1:
            raise HydridesInputError(f'h_dos_share_min must be within [0, 1], got {self.h_dos_share_min}')
        if not 1 <= self.space_group_min <= 230:
            raise HydridesInputError(f'space_group_min must be a space group number 1-230, got {self.space_group_min}')
        if self.natoms_max < 1:
            raise HydridesInputError(f'natoms_max must be at least 1, got {self.natoms_max}')

    def describe(self) -> dict:
        """Rule name -> its condition, for people and for the records."""
        return {
            'h_dos_share': f'H share of N(E_F) >= {self.h_dos_share_min:g}',
            'symmetry': f'space group >= {self.space_group_min}',
            'few_atoms': f'natoms <= {self.natoms_max}',
        }


@dataclasses.dataclass(frozen=True)
class Candidate:
    """What the selection knows about one structure; every value may be unknown (``None``)."""

    name: str
    natoms: int | None = None
    space_group_number: int | None = None
    hydrogen_share_of_dos_ef: float | None = None
    hydrogen_fraction: float | None = None
    e_hull_mev: float | None = None
    tc_mean_k: float | None = None
    tc_spread_k: float | None = None

    @classmethod
    def from_features(cls, name: str, features: Mapping, prediction: Mapping | None = None) -> Candidate:
        """From a ``TcRecord``-style features dict and an optional prediction ``{tc_mean_K, tc_spread_K}``."""
        prediction = prediction or {}
        return cls(
            name=name,
            natoms=_number(features.get('natoms'), int),
            space_group_number=_number(features.get('space_group_number'), int),
            hydrogen_share_of_dos_ef=_number(features.get('hydrogen_share_of_dos_ef')),
            hydrogen_fraction=_number(features.get('hydrogen_fraction')),
            e_hull_mev=_number(features.get('e_hull_mev')),
            tc_mean_k=_number(prediction.get('tc_mean_K')),
            tc_spread_k=_number(prediction.get('tc_spread_K')),
        )

    @classmethod
    def from_record(cls, record, prediction: Mapping | None = None) -> Candidate:
        """From a :class:`~aiida_hydrides.core.tc_model.records.TcRecord` (its features, its atoms)."""
        features = {'natoms': record.natoms, 'hydrogen_fraction': record.hydrogen_fraction, **record.features}
        return cls.from_features(record.name, features, prediction)


@dataclasses.dataclass(frozen=True)
class Choice:
    """One ranked candidate: which stage and rule placed it, with which score, at which rank (1 = first)."""

    name: str
    stage: int
    rule: str
    score: float | None
    rank: int
    details: dict = dataclasses.field(default_factory=dict, compare=False)

    def as_dict(self) -> dict:
        return {
            'name': self.name,
            'stage': self.stage,
            'rule': self.rule,
            'score': self.score,
            'rank': self.rank,
            'details': dict(self.details),
        }


def _number(value, kind=float):
    if value is None or isinstance(value, bool):
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _check_names(candidates: Sequence[Candidate]):
    names = [candidate.name for candidate in candidates]
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise HydridesInputError(f'candidate names must be unique; repeated: {duplicates[:5]}')


def _stage1_entry(candidate: Candidate, rules: Stage1Rules) -> tuple[float, str, dict]:
    values = {
        'h_dos_share': candidate.hydrogen_share_of_dos_ef,
        'symmetry': candidate.space_group_number,
        'few_atoms': candidate.natoms,
    }
    passed = {
        'h_dos_share': values['h_dos_share'] is not None and values['h_dos_share'] >= rules.h_dos_share_min,
        'symmetry': values['symmetry'] is not None and values['symmetry'] >= rules.space_group_min,
        'few_atoms': values['few_atoms'] is not None and values['few_atoms'] <= rules.natoms_max,
    }
    if candidate.hydrogen_share_of_dos_ef is not None:
        tie, tie_by = candidate.hydrogen_share_of_dos_ef, 'h_dos_share'
    elif candidate.hydrogen_fraction is not None:
        tie, tie_by = candidate.hydrogen_fraction, 'hydrogen_fraction'
    else:
        tie, tie_by = 0.0, None
    tie = min(max(tie, 0.0), 1.0) * _TIE_CAP
    score = sum(weight for name, weight in STAGE1_RULES.items() if passed[name]) + tie
    rule = '+'.join(name for name in STAGE1_RULES if passed[name]) or 'none'
    details = {
        'passed': [name for name in STAGE1_RULES if passed[name]],
        'unknown': [name for name in STAGE1_RULES if values[name] is None],
        'values': values,
        'tie_break': tie_by,
    }
    return round(score, 6), rule, details


def rank_stage1(candidates: Iterable[Candidate], rules: Stage1Rules | None = None) -> list[Choice]:
    """Every candidate ranked by the stage-1 priority rules (best first); ties by fewer atoms, then name.

    The rule of a choice names the rules it passed, highest priority first (``'h_dos_share+symmetry'``), or
    ``'none'``; its score is ``4·h_dos_share + 2·symmetry + 1·few_atoms`` (1 for a passed rule) plus the tie-break.
    """
    rules = rules or Stage1Rules()
    candidates = list(candidates)
    _check_names(candidates)
    entries = [(candidate, *_stage1_entry(candidate, rules)) for candidate in candidates]
    big = float('inf')
    entries.sort(key=lambda entry: (-entry[1], entry[0].natoms if entry[0].natoms is not None else big, entry[0].name))
    return [
        Choice(candidate.name, 1, rule, score, rank, details)
        for rank, (candidate, score, rule, details) in enumerate(entries, start=1)
    ]


def stage2_rule(kappa: float) -> str:
    """The rule of a stage-2 choice: ``'tc_mean'`` or ``'tc_mean+<kappa>*tc_spread'``."""
    return 'tc_mean' if kappa == 0 else f'tc_mean+{kappa:g}*tc_spread'


def rank_stage2(
    candidates: Iterable[Candidate],
    kappa: float = 0.0,
    e_hull_max_mev: float | None = None,
    exclude: Iterable[str] = (),
) -> tuple[list[Choice], list[dict]]:
    """The candidates not in ``exclude`` ranked by ``tc_mean + kappa·tc_spread`` (best first), lower E_hull first
    among equal scores (unknown E_hull last), then by name.

    :param kappa: weight of the ensemble spread (>= 0); a missing spread counts as 0 and the choice says so
    :param e_hull_max_mev: leave out candidates with a known E_hull above it (meV/atom)
    :return: ``(choices, left_out)``; ``left_out`` holds ``{name, reason}`` of the candidates without a prediction or
        above the E_hull limit (those in ``exclude`` are not listed)
    :raises HydridesInputError: for a negative or non-finite kappa, or when no candidate has a prediction
    """
    kappa = float(kappa)
    if not (math.isfinite(kappa) and kappa >= 0):
        raise HydridesInputError(f'kappa must be a finite number >= 0, got {kappa}')
    candidates = list(candidates)
    _check_names(candidates)
    excluded = set(exclude)
    pool = [candidate for candidate in candidates if candidate.name not in excluded]
    if pool and all(candidate.tc_mean_k is None for candidate in pool):
        raise HydridesInputError(
            f'none of the {len(pool)} candidates has a Tc prediction (tc_mean_K): stage 2 ranks by the predicted Tc'
        )
    rule = stage2_rule(kappa)
    ranked, left_out = [], []
    for candidate in pool:
        if candidate.tc_mean_k is None:
            left_out.append({'name': candidate.name, 'reason': 'no Tc prediction'})
            continue
        if e_hull_max_mev is not None and candidate.e_hull_mev is not None and candidate.e_hull_mev > e_hull_max_mev:
            left_out.append(
                {'name': candidate.name, 'reason': f'E_hull {candidate.e_hull_mev:g} > {e_hull_max_mev:g} meV/atom'}
            )
            continue
        spread = candidate.tc_spread_k
        score = candidate.tc_mean_k + kappa * (spread or 0.0)
        details = {
            'tc_mean_K': candidate.tc_mean_k,
            'tc_spread_K': spread,
            'kappa': kappa,
            'e_hull_mev': candidate.e_hull_mev,
        }
        if kappa > 0 and spread is None:
            details['note'] = 'no spread: counted as 0'
        ranked.append((candidate, round(score, 6), details))
    big = float('inf')
    ranked.sort(
        key=lambda entry: (
            -entry[1],
            entry[0].e_hull_mev if entry[0].e_hull_mev is not None else big,
            entry[0].name,
        )
    )
    choices = [
        Choice(candidate.name, 2, rule, score, rank, details)
        for rank, (candidate, score, details) in enumerate(ranked, start=1)
    ]
    return choices, left_out


def _stage1_budget(budget: int, stage1_fraction: float) -> int:
    if not 0 <= stage1_fraction <= 1:
        raise HydridesInputError(f'the stage-1 fraction must be within [0, 1], got {stage1_fraction}')
    return min(budget, math.ceil(round(budget * stage1_fraction, 9)))


def two_stage(
    candidates: Iterable[Candidate],
    budget: int,
    stage1_fraction: float = 0.5,
    kappa: float = 0.0,
    rules: Stage1Rules | None = None,
    e_hull_max_mev: float | None = None,
) -> list[Choice]:
    """The two-stage selection of ``budget`` candidates: stage 1 picks ``ceil(budget·stage1_fraction)`` by the
    rules, stage 2 the rest of the budget among the others by the predicted Tc. Ranks run over both stages (stage 1
    first); fewer than ``budget`` choices come back when stage 2 runs out of candidates with a prediction."""
    candidates = list(candidates)
    if budget < 1:
        raise HydridesInputError(f'the budget must be at least 1, got {budget}')
    first = rank_stage1(candidates, rules)[: _stage1_budget(budget, stage1_fraction)]
    chosen = list(first)
    if budget > len(first):
        second, _ = rank_stage2(candidates, kappa, e_hull_max_mev, exclude={choice.name for choice in first})
        chosen += second[: budget - len(first)]
    return [dataclasses.replace(choice, rank=rank) for rank, choice in enumerate(chosen, start=1)]


def top_names(truth: Mapping[str, float], top_fraction: float = 0.1) -> set:
    """The names whose Tc is among the highest ``top_fraction`` (at least one): those at or above the Tc of the
    ``ceil(top_fraction·n)``-th highest (ties at the threshold all count)."""
    if not 0 < top_fraction <= 1:
        raise HydridesInputError(f'the top fraction must be within (0, 1], got {top_fraction}')
    if not truth:
        raise HydridesInputError('no labelled structure to find the top Tc among')
    count = max(1, math.ceil(round(top_fraction * len(truth), 9)))
    threshold = sorted(truth.values(), reverse=True)[count - 1]
    return {name for name, value in truth.items() if value >= threshold}


def expected_random_share(n: int, budget: int) -> float:
    """Expected share of any fixed subset found by ``budget`` uniform draws without replacement among ``n``."""
    if n < 1 or budget < 0:
        raise HydridesInputError(f'need n >= 1 and budget >= 0, got n={n}, budget={budget}')
    return min(budget, n) / n


def random_at_least_probability(n: int, n_top: int, budget: int, found: int) -> float:
    """P(uniform random choice of ``budget`` among ``n`` finds at least ``found`` of the ``n_top`` best): the
    hypergeometric tail, exact."""
    budget = min(budget, n)
    total = math.comb(n, budget)
    favourable = sum(
        math.comb(n_top, hits) * math.comb(n - n_top, budget - hits) for hits in range(found, min(n_top, budget) + 1)
    )
    return favourable / total


def replay(
    records,
    predictions: Mapping[str, Mapping],
    budget: int,
    stage1_fraction: float = 0.5,
    kappa: float = 0.0,
    top_fraction: float = 0.1,
    rules: Stage1Rules | None = None,
    e_hull_max_mev: float | None = None,
    random_draws: int = 0,
    seed: int = 0,
) -> dict:
    """Replay the selection on labelled records: the share of the top-``top_fraction`` Tc that each policy finds
    with ``budget`` picks.

    :param records: labelled ``TcRecord`` objects (``tc_k`` set)
    :param predictions: name -> ``{tc_mean_K, tc_spread_K}`` (optionally ``tc_true_K``, then the truth), out-of-fold:
        every record needs one
    :param random_draws: besides the exact expectation, also average this many seeded random draws
    :return: ``{n, budget, stage1_budget, kappa, top: {...}, two_stage: {found, share, picks}, stage1_only: {...},
        stage2_only: {...}, random: {expected_share, p_at_least_two_stage, ...}, best_possible_share}``
    """
    records = [record for record in records if record.tc_k is not None]
    if not records:
        raise HydridesInputError('no labelled record to replay the selection on')
    missing = [record.name for record in records if record.name not in predictions]
    if missing:
        raise HydridesInputError(
            f'{len(missing)} of {len(records)} records have no prediction, e.g. {missing[:5]}; the replay needs an '
            'out-of-fold prediction for every record'
        )
    n = len(records)
    if not 1 <= budget <= n:
        raise HydridesInputError(f'the budget must be between 1 and the {n} records, got {budget}')
    truth = {}
    for record in records:
        true = predictions[record.name].get('tc_true_K')
        truth[record.name] = float(true) if true is not None else float(record.tc_k)
    top = top_names(truth, top_fraction)
    candidates = [Candidate.from_record(record, predictions[record.name]) for record in records]

    def outcome(choices):
        names = [choice.name for choice in choices]
        found = len(top & set(names))
        return {'found': found, 'share': found / len(top), 'picks': [choice.as_dict() for choice in choices]}

    two = outcome(two_stage(candidates, budget, stage1_fraction, kappa, rules, e_hull_max_mev))
    first = outcome(rank_stage1(candidates, rules)[:budget])
    second_choices, _ = rank_stage2(candidates, kappa, e_hull_max_mev)
    second = outcome(second_choices[:budget])
    random_result = {
        'method': 'exact expectation of uniform sampling without replacement',
        'expected_share': expected_random_share(n, budget),
        'expected_found': expected_random_share(n, budget) * len(top),
        'p_at_least_two_stage': random_at_least_probability(n, len(top), budget, two['found']),
        'p_at_least_stage1_only': random_at_least_probability(n, len(top), budget, first['found']),
    }
    if random_draws > 0:
        generator = random.Random(seed)
        names = sorted(truth)
        shares = [len(top & set(generator.sample(names, budget))) / len(top) for _ in range(random_draws)]
        random_result.update(draws=random_draws, seed=seed, mean_share_of_draws=sum(shares) / random_draws)
    return {
        'n': n,
        'budget': budget,
        'stage1_budget': _stage1_budget(budget, stage1_fraction),
        'stage1_fraction': stage1_fraction,
        'kappa': kappa,
        'rules': (rules or Stage1Rules()).describe(),
        'e_hull_max_mev': e_hull_max_mev,
        'top': {
            'fraction': top_fraction,
            'count': len(top),
            'threshold_K': min(truth[name] for name in top),
            'names': sorted(top, key=lambda name: -truth[name]),
        },
        'two_stage': two,
        'stage1_only': first,
        'stage2_only': second,
        'random': random_result,
        'best_possible_share': min(budget, len(top)) / len(top),
    }
