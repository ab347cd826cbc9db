"""Running rsync and reading what it says: progress, itemized changes, stats, exit codes.

The ``Runner`` protocol lets tests replay rsync's output; ``SubprocessRunner`` is the real one.
Everything kept from the output has a fixed bound, whatever the size of the partition.
"""

from __future__ import annotations

import codecs
import os
import re
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Protocol

from icefloe.errors import ExternalToolMissing, IcefloeError, MirrorFailed, Transient
from icefloe.mirror.command import MirrorOptions, MirrorTarget
from icefloe.progress import Progress

MAX_CHANGES = 1000  # itemized lines kept in a result; the count goes on
MAX_PROBLEMS = 100
STDERR_TAIL = 40
MAX_FRAGMENT = 64 * 1024  # an output line longer than this is cut (memory bound)

# From `man rsync`, EXIT VALUES.
EXIT_MEANINGS = {
    1: "syntax or usage error",
    2: "protocol incompatibility",
    3: "errors selecting input/output files or folders",
    4: "action not supported",
    5: "error starting the client-server protocol",
    10: "error in socket I/O",
    11: "error in file I/O",
    12: "error in the rsync protocol data stream",
    13: "errors with program diagnostics",
    14: "error in IPC code",
    20: "received SIGUSR1 or SIGINT",
    21: "some error returned by waitpid()",
    22: "error allocating core memory buffers",
    23: "partial transfer due to error",
    24: "partial transfer due to vanished source files",
    25: "the --max-delete limit stopped deletions",
    30: "timeout in data send/receive",
    35: "timeout waiting for daemon connection",
    255: "ssh or the connection failed",
}
RETRYABLE_EXITS = frozenset({10, 12, 30, 35, 255})
_CONNECTION_TROUBLE = (
    "Connection refused",
    "Connection timed out",
    "Connection reset",
    "Connection closed by",
    "No route to host",
    "Network is unreachable",
    "Could not resolve hostname",
    "Temporary failure in name resolution",
)
# Failures reaching the server that a retry cannot fix, with what to do (ssh's own wording).
_LOGIN_TROUBLE = (
    (re.compile(r"Permission denied \((publickey|password|keyboard|gssapi|hostbased)"),
     "check mirror.identity_file and the server's authorized_keys"),
    (re.compile(r"Host key verification failed"), "check mirror.known_hosts holds the server's host key"),
    (re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED"),
     "the server's host key changed; verify it, then update mirror.known_hosts"),
    (re.compile(r"rsync: (command )?not found"), "install rsync on the mirror server"),
)
_BENIGN_STDERR = ("Warning: Permanently added",)

_PROGRESS = re.compile(r"^\s*([\d,.']+)\s+(\d{1,3})%\s")
_ITEM = re.compile(r"^(\*deleting|[<>ch.][fdLDS][^ ]{9}) +(.+)$")
_STAT = re.compile(
    r"^(Number of regular files transferred|Number of deleted files|Total file size|"
    r"Total transferred file size|Literal data|Matched data|Total bytes sent): ([\d,.']+)"
)
_STAT_FIELDS = {
    "Number of regular files transferred": "files_transferred",
    "Number of deleted files": "files_deleted",
    "Total file size": "total_size",
    # The size of the files sent, or in a dry run that would be: "Total bytes sent" is then
    # only the file list, a few KiB whatever the partition holds.
    "Total transferred file size": "transferred_size",
    "Literal data": "literal_bytes",
    "Matched data": "matched_bytes",
    "Total bytes sent": "bytes_sent",
}
_VANISHED = re.compile(r'file has vanished: "(.*)"')
_MAX_DELETE_STOP = re.compile(r"Deletions stopped due to --max-delete limit \(([\d,.']+) skipped\)")


def _number(text: str) -> int:
    """rsync groups digits with ',' or '.' (by locale); byte counts are whole numbers."""
    return int(re.sub(r"[,.']", "", text))


class Runner(Protocol):
    """Runs a command, feeding its output to the callbacks as text arrives (any chunking)."""

    def run(
        self, argv: Sequence[str], on_stdout: Callable[[str], None], on_stderr: Callable[[str], None]
    ) -> int: ...


def _pump(stream: IO[bytes], callback: Callable[[str], None]) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := stream.read1(65536):  # type: ignore[attr-defined]
        if text := decoder.decode(chunk):
            callback(text)
    if text := decoder.decode(b"", final=True):
        callback(text)


class _Lines:
    """Splits streamed text at CR and LF (rsync redraws progress with CR); bounded."""

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, text: str) -> list[str]:
        *lines, self.pending = re.split(r"[\r\n]", self.pending + text)
        if len(self.pending) > MAX_FRAGMENT:
            lines.append(self.pending[:MAX_FRAGMENT])
            self.pending = ""
        return [line[:MAX_FRAGMENT] for line in lines if line]

    def close(self) -> list[str]:
        rest, self.pending = self.pending, ""
        return [rest] if rest else []


class SubprocessRunner:
    """The real runner. ``terminate()`` stops a run from another thread (cancel, Ctrl-C)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def run(
        self, argv: Sequence[str], on_stdout: Callable[[str], None], on_stderr: Callable[[str], None]
    ) -> int:
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except FileNotFoundError:
            raise ExternalToolMissing(f"{argv[0]} is not installed; install rsync (apt-get install rsync)") from None
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        errors = threading.Thread(target=_pump, args=(proc.stderr, on_stderr), daemon=True)
        errors.start()
        try:
            _pump(proc.stdout, on_stdout)
            return proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
        finally:
            errors.join()
            proc.stdout.close()
            proc.stderr.close()
            self._proc = None

    def terminate(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()


class Collector:
    """Parses rsync's output as it streams: progress, itemized changes, stats, problems."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.sent_so_far = 0
        self.stats: dict[str, int] = {}
        self.changes: list[str] = []
        self.changes_total = 0
        self.tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self.vanished: list[str] = []
        self.vanished_total = 0
        self.problems: list[str] = []
        self.deletions_skipped = 0
        self._out, self._err = _Lines(), _Lines()

    def stdout(self, text: str) -> None:
        for line in self._out.feed(text):
            self._stdout_line(line)
        # A progress redraw ends with no newline (the next one starts with CR): read it now,
        # not a second later. Counts are absolute, so seeing it again when it ends is harmless.
        self._progress(self._out.pending)

    def stderr(self, text: str) -> None:
        for line in self._err.feed(text):
            self._stderr_line(line)

    def close(self) -> None:
        for line in self._out.close():
            self._stdout_line(line)
        for line in self._err.close():
            self._stderr_line(line)

    def _progress(self, text: str) -> bool:
        match = _PROGRESS.match(text)
        if match:
            done = _number(match[1])
            if done != self.sent_so_far:
                self.progress.on_progress(done - self.sent_so_far)
                self.sent_so_far = done
        return match is not None

    def _stdout_line(self, text: str) -> None:
        if self._progress(text):
            return
        if _ITEM.match(text):
            self.changes_total += 1
            if len(self.changes) < MAX_CHANGES:
                self.changes.append(text)
        elif match := _STAT.match(text):
            self.stats[_STAT_FIELDS[match[1]]] = _number(match[2])
        elif match := _MAX_DELETE_STOP.search(text):
            self.deletions_skipped = _number(match[1])

    def _stderr_line(self, text: str) -> None:
        self.tail.append(text)
        if match := _VANISHED.search(text):
            self.vanished_total += 1
            if len(self.vanished) < MAX_PROBLEMS:
                self.vanished.append(match[1])
        elif match := _MAX_DELETE_STOP.search(text):
            self.deletions_skipped = _number(match[1])
        elif not text.startswith(("rsync error:", "rsync warning:", *_BENIGN_STDERR)):
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append(text.strip())

    def rsync_summary(self) -> str:
        """rsync's own closing line ("rsync error: ... (code N) at ..."), trimmed."""
        for line in reversed(self.tail):
            if line.startswith(("rsync error:", "rsync warning:")):
                return re.sub(r" at \S+\(\d+\).*$", "", line)
        return ""


def classify(
    code: int, got: Collector, *, label: str, target: MirrorTarget, source: Path, options: MirrorOptions
) -> tuple[tuple[str, ...], IcefloeError | None]:
    """rsync's exit code (and what it printed) as warnings and the error to raise."""
    warnings: list[str] = []
    if got.vanished_total:
        names = [os.path.relpath(p, source) if os.path.isabs(p) else p for p in got.vanished]
        more = f" and {got.vanished_total - len(names)} more" if got.vanished_total > len(names) else ""
        warnings.append(
            f"{got.vanished_total} file(s) vanished during the run (deleted or renamed while rsync "
            f"read the partition): {', '.join(names)}{more}; the next run mirrors the current state"
        )
    if code in (0, 24):
        return tuple(warnings), None
    problems = got.problems
    shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
    meaning = EXIT_MEANINGS.get(code, "unknown error")
    where = f"mirror of {label} to {target}"
    if code == 25:
        return tuple(warnings), MirrorFailed(
            f"{where}: deletions stopped by mirror.max_delete = {options.max_delete} "
            f"({got.deletions_skipped or 'some'} more deletion(s) skipped), so the mirror still holds "
            "files the partition no longer has; check the partition is complete, then run "
            f"`icefloe mirror {label} --max-delete N` once (or raise mirror.max_delete)"
        )
    if code == 23:
        return tuple(warnings), MirrorFailed(
            f"{where} is incomplete: rsync could not transfer some files (exit 23): "
            f"{shown or got.rsync_summary()}; fix the cause and run the mirror again"
            + (f" ({got.deletions_skipped} deletion(s) were also held back by mirror.max_delete)"
               if got.deletions_skipped else "")
        )
    if code < 0 or code == 20:
        how = f"killed by signal {-code}" if code < 0 else "interrupted"
        return tuple(warnings), MirrorFailed(
            f"{where}: rsync was {how}; run it again and it resumes from the partial files"
        )
    for pattern, hint in _LOGIN_TROUBLE if code in (12, 255) else ():
        if cause := next((p for p in problems if pattern.search(p)), None):
            return tuple(warnings), MirrorFailed(f"{where}: cannot start rsync on the server: {cause}; {hint}")
    trouble = next((p for p in problems if any(t in p for t in _CONNECTION_TROUBLE)), None)
    if code in RETRYABLE_EXITS or trouble:
        cause = trouble or (problems[0] if problems else got.rsync_summary() or meaning)
        if code == 30:
            cause = f"no data moved for mirror.timeout_s = {options.timeout_s} s ({cause})"
        return tuple(warnings), Transient(
            f"{where} failed to connect or stalled (rsync exit {code}): {cause}; check the server "
            "is up and reachable at mirror.target and mirror.ssh_port"
        )
    return tuple(warnings), MirrorFailed(
        f"{where} failed (rsync exit {code}, {meaning}): {shown or got.rsync_summary() or 'no message'}"
    )
