"""A local, strict stand-in for AWS: moto's S3 plus the Glacier vault API moto lacks.

One HTTP port serves S3 (moto 5.2.5), the full Glacier vault API including multipart
uploads, checked tree hashes, delayed jobs and lagging inventories, and an admin endpoint
under ``/_standin/`` for counters, runtime options, fault injection and corruption.
See docs/standin.md.
"""

from icefloe_standin.options import StandinOptions, options_from_env
from icefloe_standin.server import DEFAULT_HOST, DEFAULT_PORT, Standin, serve_forever

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Standin",
    "StandinOptions",
    "options_from_env",
    "serve_forever",
]
