"""The household page (`icefloe catalog --format html`): the words, what it hides, its size,
its atomic write, and how it looks and filters in headless Chromium at 390 and 1280 px.

The browser is driven over the DevTools protocol (``--remote-debugging-port``) with the
``websockets`` client Prefect already installs, so the test needs nothing beyond Debian's
``chromium``. The screenshots stay in the test's tmp dir.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from builders import FILES, make_world
from helpers import invoke, ok, one_line_error
from icefloe.catalog import INVENTORY_SEEN, DiscCheck, ManifestEntry, MirrorRun, now_iso
from icefloe.fsutil import atomic_write_bytes
from icefloe.household import gather, household_page, names_json, summary
from test_ui import CHROMIUM_FLAGS, chromium, stop

LONG_NAME = "holiday-" + "x" * 150 + ".jpg"  # no break opportunity: it must wrap, not overflow


def add_new_photos(part: Path, count: int = 3, folder: str = "2026/march") -> list[str]:
    names = []
    for i in range(count):
        rel = f"{folder}/IMG_{9000 + i}.jpg"
        (part / rel).parent.mkdir(parents=True, exist_ok=True)
        (part / rel).write_bytes(os.urandom(200))
        march = datetime(2026, 3, 10 + i, tzinfo=UTC).timestamp()
        os.utime(part / rel, (march, march))
        names.append(rel)
    return names


def test_everything_safe_is_one_sentence_with_discs_and_cloud(workspace: Path) -> None:
    world = make_world(workspace)
    lines = summary(gather(world.catalog, world.settings))
    assert lines[0].startswith(f"All {len(FILES)} files from September 2020 are safe: ")  # not the symlink
    assert "on 1 disc in the safe" in lines[0] and "Amazon S3" in lines[0] and "Glacier vault" in lines[0]
    assert len(lines) == 1
    page = household_page(world.catalog, world.settings)
    assert "set1 disc 1 of 1" in page  # as the disc's label page prints it
    assert "DVD+R image read back and matched" in page
    assert "confirmed by the cloud&#x27;s own listing" in page
    assert "no yearly disc check yet" in page


def test_page_holds_no_hash_no_id_no_local_path(workspace: Path) -> None:
    world = make_world(workspace)
    page = household_page(world.catalog, world.settings)
    secrets = [a.sha256 for a in world.catalog.archives()] + [a.tree_hash for a in world.catalog.archives()]
    secrets += [c.remote_id for a in world.catalog.archives() for c in world.catalog.copies(a.name)]
    secrets += [i.sha256 for i in world.catalog.images()]
    secrets += [e.sha256 for e in world.catalog.manifest("set1") if e.sha256]
    for secret in secrets:
        assert secret and secret not in page
    assert str(workspace) not in page, page[page.find(str(workspace)) - 300:][:400]
    assert not re.search(r"[0-9a-f]{40}", page)
    assert "dcim/2023" in page  # the relative names are what the search needs


def test_what_is_not_safe_yet_says_where_it_is_and_what_happens_next(workspace: Path) -> None:
    world = make_world(workspace, omit={"inventory:set1.7z.002"})
    time.sleep(0.01)
    add_new_photos(world.part)
    lines = summary(gather(world.catalog, world.settings))
    assert lines[0] == f"None of the {len(FILES) + 3} files from 2020–2026 is on discs and in the cloud yet."
    assert lines[1].startswith(f"{len(FILES)} files from September 2020 (set set1) are packed and still on "
                               "the computer and the mirror; waiting for the cloud's confirmation.")
    assert lines[2].startswith("3 files from March 2026 on photos-a are only on the computer: the mirror "
                               "copies them at its next nightly run, and they go to discs and the cloud "
                               "when photos-a is full (now ")
    # Tonight's mirror runs: the new photos are on the mirror too, still waiting for the discs.
    world.catalog.record_mirror_run(MirrorRun("photos-a", now_iso(), now_iso(), True, 0))
    world.catalog.verify("archive:set1.7z.002", INVENTORY_SEEN, True)
    lines = summary(gather(world.catalog, world.settings))
    assert lines[0].startswith(f"{len(FILES)} of {len(FILES) + 3} files from 2020–2026 are safe: those from "
                               "September 2020, on 1 disc")
    assert lines[1].startswith("3 files from March 2026 on photos-a are only on the computer and the "
                               "mirror: they go to discs and the cloud when photos-a is full")
    (workspace / "photos-b" / ".icefloe-partition").unlink()  # its disk is not mounted
    assert summary(gather(world.catalog, world.settings))[-1] == (
        "photos-b is not mounted, so files not yet packed there are not counted.")


def test_a_failed_or_overdue_disc_check_is_a_cross_in_words(workspace: Path) -> None:
    world = make_world(workspace)
    disc = "set1-disc-01-of-01"
    world.catalog.record_disc_check(DiscCheck(disc, "/dev/sr0", False, 100, 4, 9, 5, 90, -4, "short"))
    page = household_page(world.catalog, world.settings)
    assert "Needs attention: set1" in page and "damaged beyond repair; make a new disc" in page
    assert '<li class="bad"><span class="mark">✗</span>disc check' in page
    world.catalog.record_disc_check(DiscCheck(disc, "/dev/sr0", True, 100, 0, 0, 9, 90, 9, "fine"))
    assert "every sector reads" in household_page(world.catalog, world.settings)
    later = datetime.now(UTC) + timedelta(days=400)
    assert "over a year ago, check it again" in household_page(world.catalog, world.settings, later)


def test_a_set_with_a_disc_not_made_is_not_safe(workspace: Path) -> None:
    world = make_world(workspace, discs=2, omit={"disc2"})
    house = gather(world.catalog, world.settings)
    assert not house.sets[0].safe and house.sets[0].waits_for() == ["its discs"]
    assert "waiting for its discs" in summary(house)[1]
    assert "1 more disc(s) not made yet" in household_page(world.catalog, world.settings)


def test_a_cleared_set_says_it_left_the_computer(workspace: Path) -> None:
    from icefloe.clear import clear_partition

    world = make_world(workspace)
    result = clear_partition(world.catalog, world.settings, "photos-a", confirm=True)
    assert result.sets_cleared == ("set1",) and not result.kept
    page = household_page(world.catalog, world.settings)
    assert f"no: cleared {now_iso()[:10]} once every copy was checked" in page
    assert summary(gather(world.catalog, world.settings))[0].startswith("All ")


def test_names_are_embedded_compactly_for_a_large_catalog(workspace: Path) -> None:
    from icefloe.catalog import ArchiveSet

    world = make_world(workspace)
    entries = [ManifestEntry(f"dcim/{y}/{m:02d}/IMG_{i:05d}.jpg", "file", 3_000_000, 1_600_000_000_000_000_000)
               for y in range(2010, 2026) for m in range(1, 13) for i in range(260)]
    world.catalog.put_archive_set(ArchiveSet("big", "photos-b", len(entries), 0, True), entries)
    page = household_page(world.catalog, world.settings)
    raw = sum(len(e.path) for e in entries)
    per_name = len(names_json([[e.path for e in entries]]).encode()) / len(entries)
    print(f"{len(entries)} names: page {len(page.encode()) / 1e6:.2f} MB, {per_name:.1f} bytes a name "
          f"(names alone {raw / len(entries):.1f})")
    assert per_name < 0.6 * raw / len(entries)  # each folder once, then "IMG_00001.jpg/" per name
    assert len(page.encode()) < 20 * len(entries)


def test_cli_writes_the_page_atomically_and_an_interrupted_write_keeps_the_old_one(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import icefloe.fsutil

    make_world(workspace)
    page = workspace / "share" / "household.html"
    args = ["-c", str(workspace / "icefloe.toml"), "catalog", "--format", "html", "-o", str(page)]
    ok(invoke(capsys, *args))
    before = page.read_bytes()
    assert before.rstrip().endswith(b"</html>")
    add_new_photos(workspace / "photos-a")
    real_fsync = os.fsync

    def interrupted(fd: int) -> None:  # Ctrl-C after the new text is written, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(icefloe.fsutil.os, "fsync", interrupted)
    interrupted_run = invoke(capsys, *args)
    monkeypatch.setattr(icefloe.fsutil.os, "fsync", real_fsync)
    assert interrupted_run.returncode == 130 and "interrupted" in one_line_error(interrupted_run)
    assert page.read_bytes() == before
    assert sorted(p.name for p in page.parent.iterdir()) == ["household.html"]  # no temp file left
    ok(invoke(capsys, *args))  # the rerun writes the new page, once
    after = page.read_text()
    assert "IMG_9000.jpg" in after and after.count("<html") == 1
    assert sorted(p.name for p in page.parent.iterdir()) == ["household.html"]


# -- the page in headless Chromium -------------------------------------------------------


class Browser:
    """One Chromium page over the DevTools protocol: evaluate, click, type, screenshot."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=None, open_timeout=30)
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply["result"]

    def js(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10) -> object:
        deadline = time.monotonic() + timeout
        while not (value := self.js(expression)):
            assert time.monotonic() < deadline, f"never true: {expression}"
            time.sleep(0.05)
        return value

    def open(self, url: str, width: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=844 if width < 600 else 900,
                  deviceScaleFactor=1, mobile=width < 600)
        self.call("Page.navigate", url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def click(self, selector: str) -> None:
        x, y = self.js(f"(r => [r.x + r.width / 2, r.y + r.height / 2])"
                       f"(document.querySelector({json.dumps(selector)}).getBoundingClientRect())")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def type(self, text: str) -> None:
        for char in text:  # one key at a time, as a person types
            self.call("Input.dispatchKeyEvent", type="keyDown", text=char)
            self.call("Input.dispatchKeyEvent", type="keyUp")

    def screenshot(self, path: Path) -> None:
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    import httpx

    profile = tmp_path / "chromium-profile"
    flags = [f for f in CHROMIUM_FLAGS if not f.startswith(("--window-size", "--virtual-time-budget"))]
    proc = subprocess.Popen([chromium(), *flags, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert proc.poll() is None and time.monotonic() < deadline, "Chromium did not start"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
                 if t["type"] == "page"]
        page = Browser(pages[0]["webSocketDebuggerUrl"])
        yield page
        page.ws.close()
    finally:
        stop(proc)


def test_page_in_chromium_fits_a_phone_and_the_search_box_filters(
    workspace: Path, tmp_path: Path, browser: Browser
) -> None:
    from icefloe.catalog import ArchiveSet

    world = make_world(workspace)
    world.write(LONG_NAME, b"new")  # a photo not packed yet, with a very long name
    add_new_photos(world.part)
    older = [ManifestEntry(f"scans/1998/album-{i:03d}.tif", "file", 5_000_000, 900_000_000_000_000_000)
             for i in range(40)]
    world.catalog.put_archive_set(ArchiveSet("photos-b-1998", "photos-b", len(older), 0, True), older)
    page = workspace / "household.html"
    atomic_write_bytes(page, household_page(world.catalog, world.settings).encode())
    url = page.as_uri()
    for width in (390, 1280):
        browser.open(url, width)
        browser.screenshot(tmp_path / f"household-{width}.png")
        assert (tmp_path / f"household-{width}.png").stat().st_size > 5000
        scroll = browser.js("document.documentElement.scrollWidth")
        assert scroll <= width, f"{scroll} px wide at {width} px: the page scrolls sideways"
        lead = browser.js("(() => { const p = document.querySelector('#summary .lead');"
                          " const r = p.getBoundingClientRect();"
                          " return {text: p.innerText, visible: p.checkVisibility(), top: r.top,"
                          " bottom: r.bottom, height: innerHeight}; })()")
        assert lead["visible"] and 0 <= lead["top"] and lead["bottom"] <= lead["height"]  # first screen
        assert lead["text"].startswith("5 of 49 files from 1998–2026 are safe")
        cards = "[...document.querySelectorAll('.card')].map(c => [c.querySelector('h2').innerText, c.checkVisibility()])"
        assert all(visible for _, visible in browser.js(cards))
        browser.click("#q")
        browser.type("album-007")
        browser.wait_for("document.getElementById('hits').innerText.includes('1 file matches in 1 place')")
        shown = {title.split(" ")[0]: visible for title, visible in browser.js(cards)}
        assert shown == {"Not": False, "set1": False, "photos-b-1998": True}, shown
        assert browser.js("document.querySelector('.card:not([hidden]) .matches').innerText") == \
            "scans/1998/album-007.tif"
        browser.screenshot(tmp_path / f"household-{width}-search.png")
        assert browser.js("document.documentElement.scrollWidth") <= width
        browser.js("(q => { q.value = ''; q.dispatchEvent(new Event('input')); })(document.getElementById('q'))")
        browser.wait_for("document.getElementById('hits').innerText === ''")
        assert all(visible for _, visible in browser.js(cards))  # an empty box shows everything again
        browser.type("holiday-xxxx")  # the long name not packed yet: only its partition's card stays
        browser.wait_for("document.getElementById('hits').innerText.startsWith('1 file')")
        shown = {title.split(" ")[0]: visible for title, visible in browser.js(cards)}
        assert shown == {"Not": True, "set1": False, "photos-b-1998": False}, shown
        assert browser.js("document.documentElement.scrollWidth") <= width
