"""Units of results columns and metric names, read from the name (no pandas, no families).

A name carries its unit as its last word(s): ``latency_mean_s`` is in s, ``rate_bit_s`` in
bit/s, ``area_used_hz_s`` in Hz*s, ``train_flop`` in FLOP and ``compute_flops`` in FLOP/s. The
longest matching suffix wins, and suffixes match whole ``_``-separated words only. An amount
per slot (``cost_per_slot``, ``migration_per_slot_j``) has the unit of the amount (a slot is
counted, not timed). Any other per-unit name (``energy_per_flop_j``, ``noise_psd_w_per_hz``,
``bytes_per_param``) gets ``""`` (unknown), never the plain unit of its last word.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

#: Units of the fixed columns (SI; ``"1"``: dimensionless; ``""``: a label or a flag).
COLUMN_UNITS: dict[str, str] = {
    "size": "count", "seed": "", "objective": "problem unit", "bound": "problem unit",
    "eval_objective": "problem unit", "gap": "1", "time_limit": "s", "mip_gap": "1",
    "quality_mean": "1", "utility_total": "utility", "cost_total": "cost unit",
    "revenue": "cost unit", "welfare": "utility", "hit_ratio": "1", "n_violations": "count",
    "max_violation": "1", "ratio_to_ref": "1", "excess_to_ref": "1", "regret": "1",
    "ref_objective": "problem unit", "cost_per_slot": "cost unit", "cloud_cost": "cost unit",
    "edge_cost": "cost unit", "load_cost": "cost unit",
    # lifecycle referee: each request's latency times the requests that take it, summed
    "latency_total_s": "request*s",
}

#: ``(suffix, unit)``: a name ending in the suffix (whole words) is in the unit; the longest
#: matching suffix wins, whatever the order here.
_SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_seconds", "s"), ("_s", "s"), ("_j", "J"), ("_w", "W"), ("_hz", "Hz"), ("_bps", "bit/s"),
    ("_bit_s", "bit/s"), ("_hz_s", "Hz*s"), ("_bits", "bit"), ("_bit", "bit"),
    ("_bytes", "byte"), ("_byte", "byte"), ("_flop", "FLOP"), ("_flops", "FLOP/s"),
    ("_frac", "1"), ("_ratio", "1"), ("_share", "1"), ("_cost", "cost unit"),
)

#: Names that count events (beside every ``n_<thing>``).
_COUNT_NAMES = frozenset({"hits", "misses", "loads", "requests", "migrations"})

#: Words that make a name a dimensionless ratio or fraction wherever they stand.
_RATIO_WORDS = frozenset({"ratio", "frac"})


def unit_of(column: str) -> str:
    """Unit of a column or metric name.

    Parameters
    ----------
    column : str
        Column name, e.g. ``"latency_mean_s"`` or ``"area_used_hz_s"``.

    Returns
    -------
    str
        The unit from :data:`COLUMN_UNITS`, else from the longest whole-word suffix of
        :data:`_SUFFIX_UNITS` (``"s"``, ``"bit/s"``, ``"Hz*s"``, ...), ``"count"`` for counts,
        ``"1"`` for ratios and fractions; ``""`` when unknown, and for a per-unit name other
        than an amount per slot (its unit is a quotient the name does not spell out).
    """
    if column in COLUMN_UNITS:
        return COLUMN_UNITS[column]
    parts = column.split("_")
    words = [p.lower() for p in parts]
    for i in range(1, len(words) - 1):  # an amount per slot: the unit of the amount
        if words[i:i + 2] == ["per", "slot"]:
            return unit_of("_".join(parts[:i] + parts[i + 2:]))
    if "per" in words[1:]:
        return ""
    low = "_".join(words)
    best, unit = "", ""
    for suffix, u in _SUFFIX_UNITS:
        if low.endswith(suffix) and len(low) > len(suffix) and len(suffix) > len(best):
            best, unit = suffix, u
    if best:
        return unit
    if (words[0] == "n" and len(words) > 1) or low in _COUNT_NAMES:
        return "count"
    if _RATIO_WORDS & set(words):
        return "1"
    return ""
