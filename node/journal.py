"""The node's own append-only journal (JSON lines): what it accepted, refused and computed, and when."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, now: datetime, event: str, **details: Any) -> None:
        line = json.dumps(
            {"time": now.isoformat(), "event": event, **details}, ensure_ascii=False, default=str
        )
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


class NonceLedger:
    """Ticket nonces this node has accepted, persisted so a replay is refused even after a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen = set(path.read_text().split()) if path.exists() else set()

    def claim(self, nonce: str) -> bool:
        """Record the nonce; False if it was seen before."""
        with self._lock:
            if nonce in self._seen:
                return False
            self._seen.add(nonce)
            with self.path.open("a") as handle:
                handle.write(nonce + "\n")
            return True
