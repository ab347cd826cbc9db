"""Running the stand-in: a threaded werkzeug server on one port, started and stopped cleanly.

Built on moto 5.2.5's server internals (``DomainDispatcherApplication``,
``create_backend_app`` and ``MotoRequestHandler``), the same pieces moto's own
``ThreadedMotoServer`` uses; moto is pinned for that reason. moto is imported on
:meth:`Standin.start`, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

from icefloe.errors import UsageError
from icefloe_standin.app import StandinApp
from icefloe_standin.options import StandinOptions
from icefloe_standin.vault import VaultStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9566

log = logging.getLogger("standin")


class Standin:
    """A local AWS stand-in: moto's S3 and a strict Glacier vault API on one HTTP port.

    ``with Standin() as s: boto3.client("glacier", endpoint_url=s.url, ...)``. Port 0 picks
    a free port. Vault state lives in this object; S3 state lives in moto's process-wide
    backends, so two stand-ins in one process share their buckets.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        options: StandinOptions | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._initial = options if options is not None else StandinOptions()
        self._app: StandinApp | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._root: Path | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Standin:
        if self._server is not None:
            return self
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        parent = self._initial.storage_dir
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        self._root = Path(tempfile.mkdtemp(prefix="icefloe-standin-", dir=parent))
        store = VaultStore(self._root)
        moto_app = DomainDispatcherApplication(create_backend_app)
        self._app = StandinApp(moto_app, store, self._initial)
        # Bind here: werkzeug prints and exits when binding fails; a library must raise.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            listener = socket.create_server((self.host, self.port), family=family, backlog=128)
        except OSError as exc:
            shutil.rmtree(self._root, ignore_errors=True)
            self._app = None
            raise UsageError(
                f"the stand-in cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        with listener:
            self.port = listener.getsockname()[1]
            self._server = make_server(
                self.host,
                self.port,
                self._app,
                threaded=True,
                request_handler=_handler_class(),
                fd=listener.fileno(),  # werkzeug keeps a duplicate
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"icefloe-standin-{self.port}", daemon=True
        )
        self._thread.start()
        log.info("stand-in listening on %s (files in %s)", self.url, self._root)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> Standin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- state ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def options(self) -> StandinOptions:
        return self._app.options if self._app is not None else self._initial

    def set_options(self, **changes: Any) -> StandinOptions:
        """Change options at runtime (all but ``storage_dir``); returns the new options."""
        if self._app is None:
            self._initial = self._initial.updated(changes)
            return self._initial
        return self._app.set_options(changes)

    def counters(self) -> dict[str, Any]:
        """What ``GET /_standin/counters`` returns."""
        return self._require_app().counters.snapshot()

    def reset_counters(self) -> None:
        self._require_app().counters.reset()

    def corrupt(self, operation: str, count: int = 1) -> None:
        """Flip a byte in the next ``count`` responses of ``operation`` (e.g. "GetJobOutput")."""
        self._require_app().corrupter.arm(operation, count)

    def _require_app(self) -> StandinApp:
        if self._app is None:
            raise RuntimeError("the stand-in is not running; call start() first")
        return self._app


def serve_forever(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    options: StandinOptions | None = None,
    *,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> None:
    """Run the stand-in in the foreground until Ctrl-C, SIGTERM or ``stop`` is set.

    Prints one line with the URL to ``out`` (stdout by default).
    """
    stop = stop or threading.Event()
    out = out or sys.stdout
    restore: list[tuple[int, Any]] = []
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            restore.append((sig, signal.signal(sig, on_signal)))
    try:
        with Standin(host, port, options) as standin:
            print(
                f"icefloe stand-in listening on {standin.url} (AWS_ENDPOINT_URL={standin.url})",
                file=out,
                flush=True,
            )
            while not stop.wait(0.5):
                pass
    finally:
        for sig, previous in restore:
            signal.signal(sig, previous)


def _handler_class() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):
        """moto's handler, with the access log sent to logging at DEBUG instead of stderr."""

        def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
            level = logging.WARNING if type == "error" else logging.DEBUG
            log.log(level, "%s " + message, self.address_string(), *args)

    return QuietHandler
