"""Stan's warm-up windows: a fast window, slow windows of doubling length, a fast one.

::

    | fast | slow 1 | slow 2 (x2) | slow 3 (x4) | ... | fast |
      step   step size and metric from the draws       step
      size   of all chains pooled                      size

References
----------
B. Carpenter et al. (2017). Stan: a probabilistic programming language. JSS 76
(and the Stan reference manual, "HMC algorithm parameters": adaptation windows).
"""

from __future__ import annotations

from typing import NamedTuple

from jlangevin._checks import as_int

#: The fewest warm-up steps: an initial fast window, a slow one and a final fast one.
MIN_WARMUP_STEPS = 20


class Segment(NamedTuple):
    """One stretch of the warm-up: steps ``start .. end - 1``; ``slow``: a metric window."""

    start: int
    end: int
    slow: bool


def window_schedule(
    num_steps: int,
    initial_buffer: int = 75,
    final_buffer: int = 150,
    base_window: int = 25,
) -> tuple[tuple[int, int], ...]:
    """Stan's slow windows ``(start, end)`` for ``num_steps`` warm-up steps.

    When the three defaults do not fit, they become 15% / 75% / 10% of
    ``num_steps``. The final fast window is 150 steps rather than Stan's 50:
    the mean acceptance of a few chains is a noisy signal, and the
    dual-averaging average needs the longer window to land near the target.
    Each slow window doubles the previous one; a window whose successor would
    not fit before the final buffer extends to it.

    Examples
    --------
    >>> from jlangevin.adaptation import window_schedule
    >>> window_schedule(500)
    ((75, 100), (100, 150), (150, 350))
    """
    num_steps = as_int(num_steps, "num_steps")
    if num_steps < MIN_WARMUP_STEPS:
        raise ValueError(
            f"`num_steps` must be >= {MIN_WARMUP_STEPS} for the warm-up windows (an initial "
            f"fast window, at least one slow window and a final fast window); got {num_steps}."
        )
    initial_buffer = as_int(initial_buffer, "initial_buffer", minimum=0)
    final_buffer = as_int(final_buffer, "final_buffer", minimum=0)
    base_window = as_int(base_window, "base_window", minimum=1)
    if initial_buffer + base_window + final_buffer > num_steps:
        initial_buffer = int(0.15 * num_steps)
        final_buffer = int(0.1 * num_steps)
        base_window = num_steps - initial_buffer - final_buffer
    end_slow = num_steps - final_buffer
    windows = []
    start, size = initial_buffer, base_window
    while start < end_slow:
        end = start + size
        if end + 2 * size > end_slow:
            end = end_slow
        windows.append((start, end))
        start, size = end, 2 * size
    return tuple(windows)


def segments(num_steps: int, windows: tuple[tuple[int, int], ...]) -> tuple[Segment, ...]:
    """Every stretch in order: the initial fast window, the slow ones, the final fast one.

    Examples
    --------
    >>> from jlangevin.adaptation import segments, window_schedule
    >>> [tuple(s) for s in segments(500, window_schedule(500))]
    [(0, 75, False), (75, 100, True), (100, 150, True), (150, 350, True), (350, 500, False)]
    """
    out = [Segment(0, windows[0][0], False)] if windows[0][0] > 0 else []
    out += [Segment(a, b, True) for a, b in windows]
    if windows[-1][1] < num_steps:
        out.append(Segment(windows[-1][1], num_steps, False))
    return tuple(out)


__all__ = ["MIN_WARMUP_STEPS", "Segment", "segments", "window_schedule"]
