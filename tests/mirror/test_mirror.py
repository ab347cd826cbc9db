"""The mirror library without a network: targets, the command, output parsing, exit codes, records."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from icefloe.catalog import CHECKSUM_MIRROR_DUE, MIRROR_CHECKSUM, MIRROR_OK, Catalog
from icefloe.config import MirrorConfig, load_settings
from icefloe.errors import (
    ConfigInvalid,
    ExternalToolMissing,
    MirrorFailed,
    MirrorRefused,
    Transient,
)
from icefloe.mirror import (
    MAX_CHANGES,
    TRASH_DIR,
    MirrorOptions,
    MirrorTarget,
    build_command,
    check_source,
    is_empty,
    mirror_partition,
    run_mirror,
    ssh_command,
)
from icefloe.mirror.output import SubprocessRunner
from icefloe.progress import NullProgress

STATS = """\

Number of files: 1,204 (reg: 1,180, dir: 24)
Number of created files: 12 (reg: 12)
Number of deleted files: 3 (reg: 2, dir: 1)
Number of regular files transferred: 1,012
Total file size: 4,123,456,789 bytes
Total transferred file size: 123,456,789 bytes
Literal data: 100,000,000 bytes
Matched data: 23,456,789 bytes
File list size: 65,521
Total bytes sent: 100,234,567
Total bytes received: 21,004

sent 100,234,567 bytes  received 21,004 bytes  6,002,464.00 bytes/sec
total size is 4,123,456,789  speedup is 41.13
"""


@pytest.mark.parametrize(
    ("text", "host", "user", "spec"),
    [
        ("backup@offsite.example.org:/srv/mirror", "offsite.example.org", "backup",
         "backup@offsite.example.org:/srv/mirror/photos-a/"),
        ("nas:/srv/mirror/", "nas", None, "nas:/srv/mirror/photos-a/"),
        ("nas:mirror", "nas", None, "nas:mirror/photos-a/"),
        ("nas:", "nas", None, "nas:photos-a/"),
        ("u@[::1]:/m", "[::1]", "u", "u@[::1]:/m/photos-a/"),
        ("/mnt/nas/mirror/", None, None, "/mnt/nas/mirror/photos-a/"),
    ],
)
def test_target_parsing_follows_rsyncs_colon_rule(text, host, user, spec) -> None:
    target = MirrorTarget.parse(text)
    assert (target.host, target.user) == (host, user)
    assert target.is_remote == (host is not None)
    assert target.for_partition("photos-a").rsync_spec() == spec


def test_a_relative_local_target_with_a_colon_stays_local(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = MirrorTarget.parse("./odd:name")
    assert not target.is_remote and target.path == str(tmp_path / "odd:name")


@pytest.mark.parametrize("text", ["host::module", "rsync://host/module", "  "])
def test_daemon_and_empty_targets_are_refused(text) -> None:
    with pytest.raises(ConfigInvalid, match="mirror.target"):
        MirrorTarget.parse(text)


def test_command_for_an_ssh_target() -> None:
    options = MirrorOptions(
        ssh_port=2222,
        identity_file=Path("/keys/my key"),
        known_hosts=Path("/keys/known_hosts"),
        host_key_checking="yes",
        bwlimit="2M",
        max_delete=50,
        timeout_s=120,
    )
    target = MirrorTarget.parse("backup@h:/srv/m").for_partition("photos-a")
    argv = build_command(Path("/mnt/a/"), target, options)
    assert argv[0] == "rsync" and argv[-2:] == ["/mnt/a/", "backup@h:/srv/m/photos-a/"]
    for flag in ("--archive", "--delete-delay", "--partial-dir=.rsync-partial", "--itemize-changes",
                 "--stats", "--max-delete=50", "--timeout=120", "--bwlimit=2M", f"--exclude=/{TRASH_DIR}/"):
        assert flag in argv
    assert "--dry-run" not in argv
    rsh = argv[argv.index("-e") + 1]
    assert rsh == (
        'ssh -p 2222 -o BatchMode=yes -o ConnectTimeout=30 -o StrictHostKeyChecking=yes '
        '-i "/keys/my key" -o IdentitiesOnly=yes -o UserKnownHostsFile=/keys/known_hosts'
    )


def test_command_for_a_local_target_has_no_remote_shell(tmp_path) -> None:
    target = MirrorTarget.parse(str(tmp_path)).for_partition("p")
    argv = build_command(Path("/src"), target, MirrorOptions(bwlimit="0", timeout_s=0), dry_run=True)
    assert "-e" not in argv and "--dry-run" in argv
    assert not any(a.startswith(("--bwlimit", "--timeout")) for a in argv)
    assert argv[-1] == f"{tmp_path}/p/"


def test_remote_shell_quoting_survives_quotes() -> None:
    rsh = ssh_command(MirrorOptions(identity_file=Path('/k/a "b" c')))
    assert '-i "/k/a ""b"" c"' in rsh and "-p" not in rsh.split()  # port 22 is left to ssh_config


@pytest.mark.parametrize("value", ["fast", "-1", "10 M", "1e3"])
def test_a_bad_bwlimit_is_a_config_error(value) -> None:
    with pytest.raises(ConfigInvalid, match="mirror.bwlimit"):
        build_command(Path("/s"), MirrorTarget.parse("/t"), MirrorOptions(bwlimit=value))


def test_options_come_from_the_mirror_section() -> None:
    cfg = MirrorConfig(ssh_port=2200, identity_file=Path("~/.ssh/icefloe"), max_delete=7, timeout_s=9)
    options = MirrorOptions.from_config(cfg)
    assert (options.ssh_port, options.max_delete, options.timeout_s) == (2200, 7, 9)
    assert str(Path.home() / ".ssh/icefloe") in ssh_command(options)


def test_a_partition_holding_only_staged_trash_counts_as_empty(tmp_path) -> None:
    (tmp_path / ".icefloe-partition").write_text("x")
    (tmp_path / TRASH_DIR).mkdir()
    (tmp_path / TRASH_DIR / "old.jpg").write_text("x")
    check_source(tmp_path, ".icefloe-partition")  # it is the disk: the sentinel is there
    assert is_empty(tmp_path, ".icefloe-partition")
    (tmp_path / "new.jpg").write_text("x")
    assert not is_empty(tmp_path, ".icefloe-partition")


def test_an_empty_partition_is_mirrored_with_deletions_forbidden(tmp_path, fake_runner) -> None:
    part = tmp_path / "part"
    part.mkdir()
    (part / ".icefloe-partition").write_text("x")
    runner = fake_runner()
    assert run_fake(part, tmp_path, runner, max_delete=500).ok  # an empty mirror stays in step
    probe, real = runner.calls
    assert "--dry-run" in probe and "--dry-run" not in real
    assert "--max-delete=0" in probe and "--max-delete=0" in real

    stopped = fake_runner(stderr=["Deletions stopped due to --max-delete limit (7 skipped)"], exit_code=25)
    result = run_fake(part, tmp_path, stopped)
    assert len(stopped.calls) == 1 and "--dry-run" in stopped.calls[0]  # only the probe ran
    assert type(result.error) is MirrorRefused and not result.ok and not result.dry_run
    assert "nothing but its sentinel file, so the mirror was left untouched (7 item(s)" in result.message
    assert "--allow-empty" in result.message

    run_fake(part, tmp_path, runner, allow_empty=True, max_delete=9)
    assert "--max-delete=9" in runner.calls[-1] and "--dry-run" not in runner.calls[-1]


def run_fake(partition: Path, tmp_path: Path, runner, allow_empty=False, max_delete=None, **overrides):
    target = MirrorTarget.parse(str(tmp_path / "mirror")).for_partition("photos-a")
    (tmp_path / "mirror").mkdir(exist_ok=True)
    return mirror_partition(
        partition, target, MirrorOptions(**{"max_delete": 5, **overrides}), label="photos-a", runner=runner,
        allow_empty=allow_empty, max_delete=max_delete,
    )


REFUSED = [
    "ssh: connect to host 127.0.0.1 port 2222: Connection refused",
    "rsync: connection unexpectedly closed (0 bytes received so far) [sender]",
    "rsync error: error in rsync protocol data stream (code 12) at io.c(285) [sender=3.5.0]",
]


@pytest.mark.parametrize(
    ("code", "stderr", "kind", "needle"),
    [
        (12, REFUSED, Transient, "port 2222: Connection refused"),
        (255, ["ssh: connect to host h port 22: Connection timed out",
               "rsync error: unexplained error (code 255) at io.c(285) [sender=3.5.0]"], Transient, "timed out"),
        (30, ["[sender] io timeout after 600 seconds -- exiting",
              "rsync error: timeout in data send/receive (code 30) at io.c(197) [sender=3.5.0]"],
         Transient, "mirror.timeout_s = 600"),
        (35, ["rsync error: timeout waiting for daemon connection (code 35)"], Transient, "exit 35"),
        (255, ["root@h: Permission denied (publickey).",
               "rsync error: unexplained error (code 255) at io.c(285) [sender=3.5.0]"],
         MirrorFailed, "mirror.identity_file"),
        (12, ["bash: line 1: rsync: command not found",
              "rsync: connection unexpectedly closed (0 bytes received so far) [sender]"],
         MirrorFailed, "install rsync on the mirror server"),
        (11, ['rsync: [Receiver] mkdir "/srv/m/photos-a" failed: Permission denied (13)'],
         MirrorFailed, "(rsync exit 11, error in file I/O): rsync: [Receiver] mkdir"),
        (23, ["could not make way for new regular file: 2024/x.jpg",
              'rsync: [sender] send_files failed to open "/mnt/a/y.jpg": Input/output error (5)',
              "rsync error: some files/attrs were not transferred (see previous errors) (code 23)"],
         MirrorFailed, "2024/x.jpg; rsync: [sender] send_files failed to open \"/mnt/a/y.jpg\""),
        (25, ["Deletions stopped due to --max-delete limit (1,234 skipped)",
              "rsync error: the --max-delete limit stopped deletions (code 25) at main.c(1394)"],
         MirrorFailed, "mirror.max_delete = 5 (1234 more deletion(s) skipped)"),
        (11, ['rsync: [Receiver] mkdir "/srv/nope/photos-a" failed: No such file or directory (2)',
              "rsync error: error in file IO (code 11) at main.c(808) [Receiver=3.5.0]"],
         MirrorFailed, 'exit 11, error in file I/O): rsync: [Receiver] mkdir "/srv/nope/photos-a" failed'),
        (20, ["rsync error: received SIGINT, SIGTERM, or SIGHUP (code 20) at rsync.c(874)"],
         MirrorFailed, "interrupted"),
        (-9, [], MirrorFailed, "killed by signal 9"),
        (14, ["rsync error: error in IPC code (code 14) at pipe.c(85) [sender=3.5.0]"],
         MirrorFailed, "rsync error: error in IPC code (code 14)"),
    ],
)
def test_exit_codes_map_to_errors(partition, tmp_path, fake_runner, code, stderr, kind, needle) -> None:
    result = run_fake(partition, tmp_path, fake_runner(stderr=stderr, exit_code=code))
    assert not result.ok and result.exit_code == code
    assert type(result.error) is kind and result.error.retryable == (kind is Transient)
    assert needle in result.message
    assert "photos-a" in result.message
    with pytest.raises(kind):
        result.raise_for_status()


def test_vanished_files_are_a_warning_naming_them(partition, tmp_path, fake_runner) -> None:
    stderr = [
        f'file has vanished: "{partition}/2024/gone.jpg"',
        'rsync: [sender] file has vanished: "relative/also-gone.jpg"',
        "rsync warning: some files vanished before they could be transferred (code 24) at main.c(1390)",
    ]
    result = run_fake(partition, tmp_path, fake_runner(stdout=STATS.splitlines(), stderr=stderr, exit_code=24))
    assert result.ok and result.error is None
    result.raise_for_status()
    assert result.warnings == (
        "2 file(s) vanished during the run (deleted or renamed while rsync read the partition): "
        "2024/gone.jpg, relative/also-gone.jpg; the next run mirrors the current state",
    )


@pytest.mark.parametrize("group", [",", ".", "'"])
def test_stats_are_parsed_with_any_digit_grouping(partition, tmp_path, fake_runner, group) -> None:
    lines = STATS.replace(",", group).splitlines()
    result = run_fake(partition, tmp_path, fake_runner(stdout=lines))
    assert result.ok
    assert (result.files_transferred, result.files_deleted) == (1012, 3)
    assert (result.bytes_sent, result.literal_bytes, result.matched_bytes) == (100_234_567, 100_000_000, 23_456_789)
    assert result.total_size == 4_123_456_789 and result.transferred_size == 123_456_789


class Chunked:
    """Feeds rsync-like output in awkward chunks, as a pipe may deliver it."""

    def __init__(self, text: str, size: int, seen: list[int]) -> None:
        self.text, self.size, self.seen = text, size, seen

    def run(self, argv, on_stdout, on_stderr) -> int:
        for start in range(0, len(self.text), self.size):
            on_stdout(self.text[start : start + self.size])
        return 0


class Tally(NullProgress):
    def __init__(self) -> None:
        self.events: list[int] = []

    def on_progress(self, nbytes: int) -> None:
        self.events.append(nbytes)


PROGRESS_OUT = (
    "cd+++++++++ ./\n<f+++++++++ a.jpg\n\r         32,768   0%    0.00kB/s    0:00:00  "
    "\r      3,309,568  41%    2.93MB/s    0:00:01  "
    "\r      8,000,000 100%    2.97MB/s    0:00:02 (xfr#1, to-chk=0/2)\n*deleting   old.jpg\n" + STATS
)


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_output_parses_the_same_however_it_is_chunked(partition, tmp_path, size) -> None:
    progress = Tally()
    target = MirrorTarget.parse(str(tmp_path)).for_partition("photos-a")
    result = mirror_partition(
        partition, target, MirrorOptions(), label="photos-a", progress=progress,
        runner=Chunked(PROGRESS_OUT, size, []),
    )
    assert result.changes == ("cd+++++++++ ./", "<f+++++++++ a.jpg", "*deleting   old.jpg")
    assert sum(progress.events) == 8_000_000 and all(n > 0 for n in progress.events)
    assert result.files_transferred == 1012


def test_a_progress_redraw_counts_before_the_next_one_arrives(partition, tmp_path) -> None:
    progress = Tally()
    counts: list[int] = []

    class OneAtATime:
        def run(self, argv, on_stdout, on_stderr) -> int:
            for piece in ("\r      1,000   0%  1kB/s  0:00:00  ", "\r      5,000   1%  1kB/s  0:00:00  "):
                on_stdout(piece)
                counts.append(sum(progress.events))
            return 0

    target = MirrorTarget.parse(str(tmp_path)).for_partition("photos-a")
    mirror_partition(partition, target, MirrorOptions(), label="photos-a", progress=progress, runner=OneAtATime())
    assert counts == [1000, 5000]


def test_output_kept_in_memory_is_bounded(partition, tmp_path, fake_runner) -> None:
    items = [f">f+++++++++ photo-{i:05}.jpg" for i in range(MAX_CHANGES + 500)]
    stderr = [f"rsync: problem {i}" for i in range(500)] + ["x" * 200_000]
    result = run_fake(partition, tmp_path, fake_runner(stdout=items, stderr=stderr, exit_code=23))
    assert len(result.changes) == MAX_CHANGES and result.changes_total == MAX_CHANGES + 500
    assert len(result.stderr_tail) <= 40 and max(len(line) for line in result.stderr_tail) <= 64 * 1024
    assert "and 95 more" in result.message  # 100 kept, 5 shown


def test_summary_is_small_and_json_able(partition, tmp_path, fake_runner) -> None:
    result = run_fake(partition, tmp_path, fake_runner(stdout=STATS.splitlines()))
    summary = json.loads(json.dumps(result.summary()))
    assert summary["version"] == 1 and summary["ok"] is True and summary["bytes_sent"] == 100_234_567
    assert set(summary) == {"version", "label", "target", "ok", "dry_run", "exit_code", "files_transferred",
                            "files_deleted", "bytes_sent", "literal_bytes", "transferred_size", "duration_s",
                            "warnings", "error"}


def test_a_missing_rsync_is_one_clear_error(partition, tmp_path) -> None:
    target = MirrorTarget.parse(str(tmp_path)).for_partition("photos-a")
    with pytest.raises(ExternalToolMissing, match="install rsync"):
        mirror_partition(partition, target, MirrorOptions(rsync="/nonexistent/rsync"), label="photos-a")


def test_a_missing_local_mirror_folder_is_not_created(partition, tmp_path) -> None:
    target = MirrorTarget.parse(str(tmp_path / "nas-not-mounted")).for_partition("photos-a")
    with pytest.raises(MirrorFailed, match="does not exist; create it"):
        mirror_partition(partition, target, MirrorOptions(), label="photos-a")
    assert not (tmp_path / "nas-not-mounted").exists()


# -- run_mirror: configuration in, catalog records out (real rsync, local target) --------------


@pytest.fixture
def configured(workspace: Path) -> Path:
    (workspace / "photos-a" / "img.jpg").write_bytes(b"\xff\xd8" + b"x" * 5000)
    (workspace / "mirror").mkdir()
    config = workspace / "icefloe.toml"
    config.write_text(config.read_text() + f'[mirror]\ntarget = "{workspace / "mirror"}"\n')
    return config


def test_run_mirror_records_a_good_run_for_the_clear_gate(configured: Path, workspace: Path) -> None:
    settings = load_settings(configured, {})
    with Catalog.open(settings.catalog_path) as catalog:
        result = run_mirror(settings, "photos-a", catalog=catalog)
        run = catalog.last_mirror_run("photos-a")
        check = catalog.latest_verification("partition:photos-a", MIRROR_OK)
    assert result.ok and result.files_transferred == 2
    assert run.ok and run.exit_code == 0 and run.files_transferred == 2 and run.bytes_sent == result.bytes_sent
    assert run.started_at <= run.finished_at and run.detail == str(workspace / "mirror" / "photos-a")
    assert check.ok
    assert subprocess.run(["diff", "-r", str(workspace / "photos-a"), str(workspace / "mirror" / "photos-a")]).returncode == 0


def test_run_mirror_records_a_refusal_and_dry_runs_record_nothing(configured: Path, workspace: Path) -> None:
    settings = load_settings(configured, {})
    with Catalog.open(settings.catalog_path) as catalog:
        preview = run_mirror(settings, "photos-a", catalog=catalog, dry_run=True)
        assert preview.dry_run and catalog.mirror_runs() == []
        assert not (workspace / "mirror" / "photos-a").exists()
        (workspace / "photos-b" / ".icefloe-partition").unlink()
        with pytest.raises(MirrorRefused):
            run_mirror(settings, "photos-b", catalog=catalog)
        run = catalog.last_mirror_run("photos-b")
        assert not run.ok and run.exit_code is None and "no sentinel file" in run.detail
        assert not catalog.latest_verification("partition:photos-b", MIRROR_OK).ok


def test_run_mirror_without_a_target_says_what_to_set(workspace: Path) -> None:
    settings = load_settings(workspace / "icefloe.toml", {})
    with Catalog.open(settings.catalog_path) as catalog, pytest.raises(ConfigInvalid, match=r"mirror.target is not set"):
        run_mirror(settings, "photos-a", catalog=catalog)


def test_run_mirror_can_hand_back_a_failed_result(configured: Path, fake_runner) -> None:
    settings = load_settings(configured, {})
    with Catalog.open(settings.catalog_path) as catalog:
        result = run_mirror(
            settings, "photos-a", catalog=catalog, check=False,
            runner=fake_runner(stderr=REFUSED, exit_code=12),
        )
        assert isinstance(result.error, Transient)
        with pytest.raises(Transient):
            run_mirror(settings, "photos-a", catalog=catalog, runner=fake_runner(stderr=REFUSED, exit_code=12))
        assert [r.ok for r in catalog.mirror_runs("photos-a")] == [False, False]


def test_a_checksum_run_sends_a_file_edited_in_place_with_its_time_kept(configured: Path, workspace: Path) -> None:
    settings = load_settings(configured, {})
    img, copy = workspace / "photos-a" / "img.jpg", workspace / "mirror" / "photos-a" / "img.jpg"
    with Catalog.open(settings.catalog_path) as catalog:
        run_mirror(settings, "photos-a", catalog=catalog)
        st = os.stat(img)
        img.write_bytes(b"\xff\xd8" + b"y" * 5000)  # same size; the photo tool puts the time back
        os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns))
        quick = run_mirror(settings, "photos-a", catalog=catalog)
        assert quick.files_transferred == 0 and copy.read_bytes() != img.read_bytes()
        assert catalog.latest_verification("partition:photos-a", MIRROR_CHECKSUM) is None
        summed = run_mirror(settings, "photos-a", catalog=catalog, checksum=True)
        assert summed.files_transferred == 1 and copy.read_bytes() == img.read_bytes()
        assert catalog.latest_verification("partition:photos-a", MIRROR_CHECKSUM).ok


def test_after_a_clear_the_next_mirror_compares_every_byte(configured: Path, workspace: Path) -> None:
    settings = load_settings(configured, {})
    with Catalog.open(settings.catalog_path) as catalog:
        catalog.set_state(CHECKSUM_MIRROR_DUE.format(label="photos-a"), "20261201T000000Z-0")
        seen: list[list[str]] = []
        real = SubprocessRunner()

        class Spy:
            def run(self, argv, on_stdout, on_stderr):
                seen.append(list(argv))
                return real.run(argv, on_stdout, on_stderr)

        run_mirror(settings, "photos-a", catalog=catalog, runner=Spy())
        run_mirror(settings, "photos-a", catalog=catalog, runner=Spy())
    assert "--checksum" in seen[0] and "--checksum" not in seen[1]  # due once, then done
