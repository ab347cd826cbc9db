"""What the stand-in has seen, for tests to assert on.

Snapshot shape (also served at ``GET /_standin/counters``)::

    {
      "requests": 31,                                   # service requests, faults included
      "operations": {"glacier.UploadMultipartPart": 12, "s3.UploadPart": 4, ...},
      "faults": 3,                                      # injected errors
      "faults_by_code": {"ThrottlingException": 1, ...},
      "corrupted": 1,                                   # responses with a flipped byte
      "vault_parts": [{"upload_id": "...", "range": "0-1048575"}, ...],  # parts stored, in order
      "s3_parts": [{"upload_id": "...", "part": 1}, ...]                 # S3 parts stored, in order
    }
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Counters:
    """Thread-safe request counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._operations: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._corrupted = 0
            self._parts: list[dict[str, str]] = []
            self._s3_parts: list[dict[str, Any]] = []

    def request(self, operation: str) -> None:
        with self._lock:
            self._requests += 1
            self._operations[operation] += 1

    def fault(self, code: str) -> None:
        with self._lock:
            self._faults[code] += 1

    def corrupted(self) -> None:
        with self._lock:
            self._corrupted += 1

    def vault_part(self, upload_id: str, byte_range: str) -> None:
        with self._lock:
            self._parts.append({"upload_id": upload_id, "range": byte_range})

    def s3_part(self, upload_id: str, part: int) -> None:
        with self._lock:
            self._s3_parts.append({"upload_id": upload_id, "part": part})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "operations": dict(sorted(self._operations.items())),
                "faults": sum(self._faults.values()),
                "faults_by_code": dict(sorted(self._faults.items())),
                "corrupted": self._corrupted,
                "vault_parts": [dict(p) for p in self._parts],
                "s3_parts": [dict(p) for p in self._s3_parts],
            }
