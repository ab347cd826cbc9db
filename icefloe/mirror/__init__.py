"""The nightly mirror: each partition copied with rsync (over ssh, or to a local folder).

One partition goes to ``<target>/<label>/``. ``command`` builds the rsync command (pure) and
holds the safety gate, ``check_source``: a partition that lacks its sentinel file or (when
configured) is not a mount point is refused, so an unmounted disk never wipes the mirror. An
empty partition is mirrored with deletions forbidden, so it is refused whenever it would delete
anything, and ``--max-delete`` caps what one run may delete. ``output`` runs rsync and reads its output:
progress, itemized changes, ``--stats`` figures, and the error its exit code maps to
(docs/mirror.md has the table). ``run`` puts them together and records each run in the catalog.
"""

from icefloe.mirror.command import (
    CONNECT_TIMEOUT_S,
    PARTIAL_DIR,
    TRASH_DIR,
    MirrorOptions,
    MirrorTarget,
    build_command,
    check_source,
    is_empty,
    source_size,
    ssh_command,
)
from icefloe.mirror.output import EXIT_MEANINGS, MAX_CHANGES, Runner, SubprocessRunner, classify
from icefloe.mirror.run import (
    RESULT_VERSION,
    MirrorResult,
    MirrorSummary,
    mirror_partition,
    record_run,
    run_mirror,
    target_for,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "EXIT_MEANINGS",
    "MAX_CHANGES",
    "PARTIAL_DIR",
    "RESULT_VERSION",
    "TRASH_DIR",
    "MirrorOptions",
    "MirrorResult",
    "MirrorSummary",
    "MirrorTarget",
    "Runner",
    "SubprocessRunner",
    "build_command",
    "check_source",
    "classify",
    "is_empty",
    "mirror_partition",
    "record_run",
    "run_mirror",
    "source_size",
    "ssh_command",
    "target_for",
]
