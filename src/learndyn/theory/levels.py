"""Which truncation runs exist (light: no torch), shared by the hierarchy experiment
(``hierarchy``), its settings and the cost model.

Level k >= 1 is exact by construction at depth L <= k, so it is integrated only where it
truncates (k < L); level 0 (closed form) always; level 1 at L = 1, exact, up to
``floor_max_width`` to measure the integration floor.
"""

from __future__ import annotations

LEVELS = (0, 1, 2)  # 0 = kernel frozen (NTK), 1 = frozen-Gamma, 2 = operators moving, conjugate frozen


def runs_level(
    level: int, depth: int, width: int, floor_max_width: int, levels_max_width: int | None = None
) -> bool:
    """Whether level ``level`` is integrated (or, for 0, evaluated) at ``depth`` and ``width``;
    levels k >= 1 where they truncate only up to ``levels_max_width`` (None: every width)."""
    if level == 0:
        return True
    if level < depth:
        return levels_max_width is None or width <= levels_max_width
    return depth == 1 and level == 1 and width <= floor_max_width


def flows_per_run(levels, depth: int, width: int, floor_max_width: int, levels_max_width=None) -> int:
    """Integrated flows of one (depth, width, seed) run: the true flow and each level >= 1 run."""
    return 1 + sum(
        1 for k in levels if k >= 1 and runs_level(k, depth, width, floor_max_width, levels_max_width)
    )


def widths_at(truncation: dict, depth: int, n: int | None = None) -> list[int]:
    """Widths integrated at ``depth`` (the second data size ``second_n`` has its own list)."""
    second = truncation.get("second_n") or {}
    if second and n == second["n"] and depth == second["depth"]:
        return list(second["widths"])
    cap = list(truncation["max_widths"])[list(truncation["depths"]).index(depth)]
    return [m for m in truncation["widths"] if m <= cap]


def seeds_at(truncation: dict, depth: int) -> list:
    """Seeds of level 0 at ``depth``: the first ``depth_seeds[i]`` of ``seeds`` at ``depths[i]``
    (all of them without ``depth_seeds``); levels >= 1 run on the first ``level_seeds`` of these."""
    seeds, counts = list(truncation["seeds"]), list(truncation.get("depth_seeds") or [])
    if not counts:
        return seeds
    return seeds[: counts[list(truncation["depths"]).index(depth)]]


def level_seed_count(truncation: dict, depth: int) -> int:
    """How many seeds of ``depth`` run the levels >= 1 (``level_seeds``, at most the depth's)."""
    return min(len(seeds_at(truncation, depth)), int(truncation.get("level_seeds", 1 << 30)))
