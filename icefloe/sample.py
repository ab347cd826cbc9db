"""A sample partition for the demo and the benchmarks: photo-like and text-like files."""

from __future__ import annotations

import os
import random
from pathlib import Path

MIB = 1024 * 1024
WORDS = (
    "beach birthday grandma garden snow holiday school concert picnic wedding mountain river "
    "summer winter autumn spring harbour market train bicycle kitchen cake candles lantern"
).split()


def make_sample_partition(root: Path, size_mib: int = 32, *, seed: int = 1, sentinel: str = ".icefloe-partition") -> int:
    """Fill ``root`` with about ``size_mib`` MiB: 70% incompressible "photos", 30% text notes.

    Includes the shapes a family's disk really has: nested years, unicode and spaced names, an
    empty folder, an empty file and a symlink. Returns the bytes written.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / sentinel).write_text(f"{root.name}\n")
    budget = size_mib * MIB
    media_budget, written = int(budget * 0.7), 0
    index = 0
    while written < media_budget:
        year = 2015 + index % 8
        folder = root / "photos" / str(year) / f"{rng.choice(WORDS)} {index % 5:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = min(rng.randint(MIB // 2, 3 * MIB), media_budget - written)
        ext = ".mp4" if index % 9 == 8 else ".jpg"
        (folder / f"IMG_{index:04d}{ext}").write_bytes(os.urandom(size))
        written += size
        index += 1
    notes = root / "notes"
    notes.mkdir(exist_ok=True)
    line = 0
    while written < budget:
        name = notes / f"diary-{line // 400:03d}.txt"
        with name.open("a", encoding="utf-8") as handle:
            text = " ".join(rng.choice(WORDS) for _ in range(12)) + "\n"
            handle.write(text)
            written += len(text)
        line += 1
    (root / "notes" / "Grüße aus Köln — été 2019.txt").write_text("Liebe Grüße!\n", encoding="utf-8")
    (root / "empty folder").mkdir(exist_ok=True)
    (root / "notes" / "empty.txt").write_bytes(b"")
    link = root / "latest-photos"
    if not link.is_symlink():
        link.symlink_to("photos")
    return written
