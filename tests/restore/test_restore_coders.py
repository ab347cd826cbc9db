"""icefloe's own 7z reading (header; 7zAES, Copy, LZMA2, LZMA) against py7zr and 7-Zip's archives."""

from __future__ import annotations

import io
import os
import random
import subprocess
from pathlib import Path

import py7zr
import py7zr.helpers
import pytest
from restore_helpers import PASSWORD

from icefloe.errors import PasswordError
from icefloe.restore import extract_set, file_source
from icefloe.restore.coders import derive_key, open_stream
from icefloe.restore.header import read_layout
from icefloe.restore.sevenzip import layout
from icefloe.volumestream import VolumeReader


@pytest.mark.parametrize(("secret", "salt", "cycles"), [
    ("correct horse battery staple", b"", 19),  # what icefloe and 7-Zip write
    ("Grüße 日本語", os.urandom(16), 10),
    ("x", b"ab", 3),
    ("x", b"", 0),
    ("y", b"", 8),
    ("z", b"s", 0x3F),  # no hashing at all
])
def test_the_key_is_the_one_py7zr_derives(secret: str, salt: bytes, cycles: int) -> None:
    encoded = secret.encode("utf-16-le")
    want = py7zr.helpers.calculate_key(encoded, cycles, salt, "sha256")
    assert derive_key(encoded, salt, cycles) == want
    assert derive_key(encoded, salt, cycles) == want  # remembered, still the same
    assert derive_key(encoded + b"\x00\x00", salt, cycles) != want or cycles == 0x3F


def _files(root: Path) -> dict[str, bytes]:
    rng = random.Random(3)
    files = {
        "media/a.jpg": rng.randbytes(1_300_007),
        "media/b.heic": rng.randbytes(70_001),
        "text/notes.txt": b"".join(b"line %d of the notes\n" % i for i in range(60_000)),
        "text/empty.txt": b"",
        "prog/tool.exe": b"MZ" + bytes(range(256)) * 900,
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


# 7-Zip's switches; whether icefloe decodes each folder itself (else py7zr does). 7-Zip packs
# every header with LZMA, which icefloe reads itself.
CHAINS = {
    "aes-copy": (["-mx0", f"-p{PASSWORD}"], True),
    "aes-lzma2-hidden-names": (["-m0=LZMA2", "-mx1", "-mhe=on", f"-p{PASSWORD}"], True),
    "aes-lzma2-volumes": (["-m0=LZMA2", "-mx5", "-v300k", f"-p{PASSWORD}"], True),
    "lzma2": (["-m0=LZMA2", "-mx1"], True),
    "copy": (["-m0=Copy"], True),
    "lzma": (["-m0=LZMA", "-mx1"], True),
    "bcj-lzma2": (["-m0=BCJ", "-m1=LZMA2", "-mx1"], False),
    "aes-deflate": (["-m0=Deflate", f"-p{PASSWORD}"], False),
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_archives_7zip_made_with_each_chain_restore_byte_identical(chain: str, tmp_path: Path) -> None:
    switches, ours = CHAINS[chain]
    src = tmp_path / "src"
    files = _files(src)
    subprocess.run(["7zz", "a", *switches, str(tmp_path / "x.7z"), "."], cwd=src, check=True, capture_output=True)
    volumes = sorted(tmp_path.glob("x.7z*"))
    password = PASSWORD if any(s.startswith("-p") for s in switches) else None
    sources = [file_source(v) for v in volumes]

    with VolumeReader(sources) as reader:
        with py7zr.SevenZipFile(reader, password=password) as archive:
            folders, members = layout(archive)
        assert _shape(read_layout(reader, password)) == _shape((folders, members))  # as py7zr reads it
    assert folders and len(members) > len(files)  # the folders are entries too
    for folder in folders:
        stream = open_stream(io.BytesIO(), folder.coders, folder.packsize, folder.unpacksizes, password)
        assert (stream is not None) == ours, folder.coders

    report = extract_set(sources, tmp_path / "out", password=password)
    assert report.ok, report.problems
    assert report.files == len(files)
    for rel, data in files.items():
        assert (tmp_path / "out" / rel).read_bytes() == data, rel


def _shape(layout_: tuple[list, list]) -> tuple[list, list]:
    folders, members = layout_
    return ([(f.index, f.offset, f.packsize, [(bytes(c["method"]), c["properties"]) for c in f.coders],
              f.unpacksizes, [m.index for m in f.members]) for f in folders],
            [(m.index, m.name, m.size, m.crc, m.attributes, m.mtime_ns, m.folder, m.is_dir) for m in members])


def test_encrypted_data_under_a_plain_header_needs_the_password_before_anything_is_written(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _files(src)
    subprocess.run(["7zz", "a", "-mhe=off", f"-p{PASSWORD}", str(tmp_path / "x.7z"), "."], cwd=src, check=True,
                   capture_output=True)
    with pytest.raises(PasswordError, match="x.7z is encrypted"):
        extract_set([file_source(tmp_path / "x.7z")], tmp_path / "out", password=None)
    assert not (tmp_path / "out").exists()
