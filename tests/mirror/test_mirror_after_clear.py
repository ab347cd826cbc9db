"""The mirror after a verified clear."""

from __future__ import annotations

from pathlib import Path


def test_nightly_mirror_follows_a_verified_clear(tmp_path: Path) -> None:
    """After a clear the partition is empty on purpose: the next mirror deletes, not refuses."""
    from icefloe.catalog import ArchiveSet, Catalog, ManifestEntry
    from icefloe.config import load_settings
    from icefloe.mirror import run_mirror

    part, mirror = tmp_path / "photos-a", tmp_path / "mirror"
    part.mkdir()
    mirror.mkdir()
    (part / ".icefloe-partition").write_text("photos-a\n")
    for i in range(5):
        (part / f"p{i}.jpg").write_bytes(b"x" * 10)
    (tmp_path / "icefloe.toml").write_text(
        '[[partitions]]\nlabel = "photos-a"\npath = "photos-a"\n[mirror]\ntarget = "mirror"\nmax_delete = 2\n'
    )
    settings = load_settings(tmp_path / "icefloe.toml", {})
    with Catalog.open(settings.catalog_path) as catalog:
        run_mirror(settings, "photos-a", catalog=catalog)
        assert len(list((mirror / "photos-a").glob("*.jpg"))) == 5
        for i in range(5):
            (part / f"p{i}.jpg").unlink()
        entries = [ManifestEntry(f"p{i}.jpg", "file", 10, 0, "x") for i in range(5)]
        catalog.put_archive_set(ArchiveSet("s1", "photos-a", 5, 50, False), entries)
        catalog.mark_set_cleared("s1")
        result = run_mirror(settings, "photos-a", catalog=catalog)
        assert result.ok and not list((mirror / "photos-a").glob("*.jpg"))
        # Without a clear behind it, an emptied partition is still refused.
        (part / "q.jpg").write_bytes(b"y")
        run_mirror(settings, "photos-a", catalog=catalog)
        (part / "q.jpg").unlink()
        import pytest

        from icefloe.errors import MirrorRefused

        with pytest.raises(MirrorRefused):
            run_mirror(settings, "photos-a", catalog=catalog)
        assert (mirror / "photos-a" / "q.jpg").exists()
