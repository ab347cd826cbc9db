"""Trees of awkward shapes, and 7-Zip run the way a person restoring would run it."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

from helpers import snapshot

SENTINEL = ".icefloe-partition"
LONG_NAME = ("long-name-" + "x" * 186 + ".txt")  # 200 characters
assert len(LONG_NAME) == 200
META_NAME = "sp ace $(echo pwned);&|<>*?'\"`\\ !#%.txt"


def text(n: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    words = ["photo", "family", "beach", "birthday", "grandma", "summer", "album", "2019", "trip"]
    out, size = [], 0
    while size < n:
        line = " ".join(rnd.choices(words, k=rnd.randint(3, 12))) + f" {rnd.randint(0, 10**6)}\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]


def make_partition(root: Path, *, sentinel: bool = True) -> Path:
    """A partition with every shape the issue lists (no 4 GiB file: that is the disc tests')."""
    rnd = random.Random(7)
    root.mkdir(parents=True)
    if sentinel:
        (root / SENTINEL).write_text("photos-a\n")
    (root / ".icefloe-trash" / "old").mkdir(parents=True)
    (root / ".icefloe-trash" / "old" / "deleted.jpg").write_bytes(b"trash")
    photos = root / "Photos" / "2019" / "Été à Zürich 🏔"
    photos.mkdir(parents=True)
    (photos / "IMG_0001.JPG").write_bytes(rnd.randbytes(300_000))
    (photos / "clip.mp4").write_bytes(rnd.randbytes(200_000))
    (photos / "家族写真.heic").write_bytes(rnd.randbytes(50_000))
    docs = root / "Documents"
    docs.mkdir()
    (docs / "notes.txt").write_bytes(text(400_000))
    (docs / "unknown.bin").write_bytes(rnd.randbytes(100_000))  # sampled: incompressible
    (docs / "unknown.dat").write_bytes(text(100_000, seed=2))  # sampled: compressible
    (docs / LONG_NAME).write_bytes(b"two hundred characters\n")
    (docs / META_NAME).write_bytes(b"shell metacharacters\n")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "empty folder").mkdir()
    deep = root.joinpath(*[f"level{i:02d}" for i in range(40)])
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_bytes(b"deep\n")
    (root / "link-to-notes").symlink_to("Documents/notes.txt")
    (root / "link-to-folder").symlink_to("Photos")
    (root / "dangling-absolute").symlink_to("/nonexistent/elsewhere")
    # Fixed, distinct mtimes (with sub-second parts) so restored times can be compared.
    paths = sorted(Path(d) / n for d, dirs, files in os.walk(root) for n in dirs + files)
    for i, path in enumerate(paths):
        if path.is_symlink():
            continue
        ns = 1_600_000_000_000_000_000 + i * 1_000_000_123
        os.utime(path, ns=(ns, ns), follow_symlinks=False)
    return root


def sevenzip(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``7zz`` with no terminal: it never waits for a password prompt."""
    proc = subprocess.run(
        ["7zz", *args], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"7zz {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_same_tree(source: Path, restored: Path) -> None:
    """Same entries, kinds, contents and link targets; files' mtimes to 7-Zip's 100 ns."""
    want, got = snapshot(source), snapshot(restored)
    assert sorted(got) == sorted(want)
    for rel, entry in want.items():
        other = got[rel]
        assert other[0] == entry[0], rel
        if entry[0] == "link" and entry[1].startswith("/"):
            # 7-Zip re-roots absolute link targets under the output folder (its safety rule).
            assert other[1].endswith(entry[1]), (rel, other[1])
        elif entry[0] == "link":
            assert other[1] == entry[1], rel
        elif entry[0] == "file":
            assert (other[1], other[3]) == (entry[1], entry[3]), rel
            assert other[2] // 100 == entry[2] // 100, rel
