"""Data grades per GB/T 43697: core (核心数据), important (重要数据) and general (一般数据)."""

from __future__ import annotations

from enum import StrEnum


class Grade(StrEnum):
    """Data grade per GB/T 43697: core (核心数据), important (重要数据), general (一般数据)."""

    CORE = "core"
    IMPORTANT = "important"
    GENERAL = "general"

    @property
    def rank(self) -> int:
        """Higher is stricter."""
        return {Grade.GENERAL: 0, Grade.IMPORTANT: 1, Grade.CORE: 2}[self]
