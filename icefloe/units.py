"""How icefloe writes a size for a person: binary units, one decimal (``1.5 KiB``, ``4.2 GiB``).

One spelling everywhere, in listings, messages, artifacts and the household's page, so that a
figure read in one place can be compared with the same figure in another. Exact bytes belong
in ``--json`` and beside the figure where a report wants both (``exact_size``).
"""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(nbytes: int | float) -> str:
    """``512 B``, ``1.5 KiB``, ``4.2 GiB``: binary units, one decimal."""
    value = float(nbytes)
    for unit in UNITS:
        if abs(value) < 1024 or unit == UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def exact_size(nbytes: int) -> str:
    """``1.5 MiB (1,572,864 bytes)``: the human figure with the exact one, for reports."""
    return f"{size(nbytes)} ({nbytes:,} bytes)"
