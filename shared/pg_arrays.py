"""A faster type check for the array parameters the bulk writes send to asyncpg.

Every bulk write sends a batch as one array per column (``unnest``), so a consumer batch of
1,000 events sends some 10,000 array elements. For each element asyncpg asks
``isinstance(element, collections.abc.Iterable)`` and ``… Sized`` to find nested arrays, and
each such check against an ABC runs ``ABCMeta.__instancecheck__`` in Python: about half of the
client's cost of a text array (measured: 8 columns, 1,000 rows, 7.0 → 3.1–4.5 µs a row).

The check is given the same answer faster by naming the concrete types first. ``str``,
``bytes``, ``list`` and ``tuple`` are all ``Iterable`` and ``Sized``, so
``isinstance(x, (str, bytes, list, tuple, Iterable))`` is true for exactly the same ``x`` as
``isinstance(x, Iterable)``; what asyncpg accepts and rejects does not change. A text element
now stops at the first entry, in C.
"""

from __future__ import annotations

from collections.abc import Iterable, Sized

import asyncpg.protocol.protocol as _protocol

_CONCRETE = (str, bytes, list, tuple)
FAST_ITERABLE = (*_CONCRETE, Iterable)
FAST_SIZED = (*_CONCRETE, Sized)


def speed_up_array_parameters() -> bool:
    """Install the equivalent checks; False (nothing changed) if asyncpg no longer has them."""
    if not (hasattr(_protocol, "IterableABC") and hasattr(_protocol, "SizedABC")):
        return False
    _protocol.IterableABC = FAST_ITERABLE
    _protocol.SizedABC = FAST_SIZED
    return True
