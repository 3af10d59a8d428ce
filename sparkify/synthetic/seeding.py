"""Where every random draw of the generator comes from."""

import bisect
import random
from collections.abc import Sequence


def rng_for(seed: int, purpose: str, index: int = 0) -> random.Random:
    """Return a generator private to one purpose (and one day, user or tick) of one seed.

    Seeding from a string goes through SHA-512 inside `random`, so the stream is the same in
    every process and interpreter run (unlike `hash()`, which PYTHONHASHSEED salts). Giving
    each day its own generator is what lets days be rendered in any process, in any order,
    and still come out byte-identical.
    """
    return random.Random(f"sparkify/{seed}/{purpose}/{index}")


def weighted_index(rng: random.Random, cum_weights: Sequence[float]) -> int:
    """Pick an index with probability proportional to its weight, given cumulative weights.

    What `rng.choices(..., cum_weights=...)` does, minus building a list per call: this runs
    once per event.
    """
    i = bisect.bisect_right(cum_weights, rng.random() * cum_weights[-1])
    if i == len(cum_weights):  # r * total rounded up to total: take the last weighted index
        i = bisect.bisect_left(cum_weights, cum_weights[-1])
    return i
