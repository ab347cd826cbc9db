"""One size spelling everywhere: binary units, one decimal; the exact bytes beside it in reports."""

from __future__ import annotations

from icefloe.household.story import size_words
from icefloe.units import exact_size, size


def test_size_uses_binary_units_with_one_decimal() -> None:
    assert [size(n) for n in (0, 1023, 1024, 1536, 10**5, 315_490_304, 5 << 30)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "97.7 KiB", "300.9 MiB", "5.0 GiB"]


def test_exact_size_keeps_every_byte_beside_the_figure() -> None:
    assert exact_size(1_572_864) == "1.5 MiB (1,572,864 bytes)"
    assert exact_size(12) == "12 B (12 bytes)"


def test_the_household_reads_bytes_in_words_and_the_rest_as_everywhere() -> None:
    assert size_words(512) == "512 bytes"
    assert size_words(3 << 20) == size(3 << 20) == "3.0 MiB"
