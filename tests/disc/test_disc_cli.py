"""`icefloe iso`, `icefloe verify-image` and `icefloe burn` as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from disc_helpers import record_set, sha256_file
from helpers import invoke

from icefloe.catalog import BURNED_READBACK, IMAGE_VERIFIED, Catalog
from icefloe.config import load_settings


@pytest.fixture
def icefloe(capsys, workspace: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("ICEFLOE_CONFIG", raising=False)

    return lambda *args: invoke(capsys, *args)


def test_folder_image_verify_and_burn(icefloe, shapes: Path, workspace: Path, tmp_path: Path) -> None:
    code, out, err = icefloe("iso", str(shapes), "--out", "x/shapes.iso", "--disc", "bd-r")
    assert code == 0, err
    image = workspace / "x" / "shapes.iso"
    assert out.strip() == "x/shapes.iso" and image.is_file()
    assert "every file read back through UDF and matched" in err
    code, _, err = icefloe("verify-image", str(image))
    assert code == 0 and "every file matched" in err
    code, out, err = icefloe("burn", str(image), "--device", f"stdio:{tmp_path / 'b.img'}", "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "image": str(image), "device": f"stdio:{tmp_path / 'b.img'}", "size": image.stat().st_size,
        "sha256": sha256_file(image), "ok": True,
    }
    # A folder image touches no catalog.
    assert not (workspace / "work" / "catalog.sqlite").exists()


def test_set_images_from_the_catalog(icefloe, workspace: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(workspace / "icefloe.toml", {})
    with Catalog.open(settings.catalog_path) as catalog:
        record_set(catalog, tmp_path)
    code, out, err = icefloe("iso", "photos-a-1", "--dry-run")
    assert code == 0, err
    assert out.startswith("photos-a-1-disc-01-of-01.iso  dvd+r  0.0% full  photos-a-1.7z.001")
    code, out, err = icefloe("iso", "photos-a-1", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    image = workspace / "work" / "discs" / "photos-a-1" / "photos-a-1-disc-01-of-01.iso"
    assert row["image"] == str(image) and row["disc"] == "1/1"
    monkeypatch.setenv("ICEFLOE_ARCHIVE__BURNER", f"stdio:{tmp_path / 'b.img'}")
    code, _, err = icefloe("burn", str(image))
    assert code == 0, err
    with Catalog.open(settings.catalog_path) as catalog:
        assert [r.name for r in catalog.images("photos-a-1")] == [image.name]
        assert catalog.latest_verification(f"image:{image.name}", IMAGE_VERIFIED).ok
        assert catalog.latest_verification(f"image:{image.name}", BURNED_READBACK).ok
        assert [b.device for b in catalog.burns(image.name)] == [f"stdio:{tmp_path / 'b.img'}"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["iso", ".", "--disc", "cd-r"], 2, "icefloe: Invalid value for '--disc' / '-d': Value error, 'cd-r' is not one of 'dvd+r'"),
        (["iso", "no-such-set"], 2, "icefloe: no-such-set is neither a folder nor an archive set"),
        (["burn", "missing.iso"], 2, "icefloe: no burner given"),
        (["burn", "missing.iso", "--device", "/dev/sr0"], 2, "icefloe: missing.iso does not exist"),
        (["verify-image", "missing.iso"], 2, "icefloe: missing.iso does not exist"),
    ],
)
def test_user_errors_are_one_line(icefloe, args: list[str], code: int, message: str) -> None:
    got, _, err = icefloe(*args)
    assert got == code
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_burn_to_a_missing_drive(icefloe, shapes: Path) -> None:
    assert icefloe("iso", str(shapes), "--out", "s.iso")[0] == 0
    code, _, err = icefloe("burn", "s.iso", "--device", "/dev/sr9")
    assert code == 8 and err.startswith("icefloe: cannot use /dev/sr9 as a burner")
