"""Tables of the audit log on the shared SQLModel metadata, all named ``audit_*``; only ever appended to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Index, Integer, LargeBinary, SmallInteger, Table, Text
from sqlmodel import Field, SQLModel

# 64-bit on PostgreSQL; on SQLite a plain INTEGER primary key is the rowid itself.
_BIGINT = BigInteger().with_variant(Integer(), "sqlite")
_CLUSTERED: dict[str, Any] = {"sqlite_with_rowid": False}


class AuditEntryRow(SQLModel, table=True):
    """One leaf: the canonical JSON bytes and their RFC 9162 leaf hash."""

    __tablename__ = "audit_entries"
    # Listing one kind pages through this index in log order on both databases, without a sort.
    __table_args__ = (Index("ix_audit_entries_kind_idx", "kind", "idx"),)

    idx: int = Field(sa_column=Column("idx", _BIGINT, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=64)
    canonical: bytes = Field(sa_column=Column("canonical", LargeBinary, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column("leaf_hash", LargeBinary, nullable=False))


class AuditNodeRow(SQLModel, table=True):
    """Hash of the perfect subtree (level, idx), written when its last leaf arrives; level 0 are leaves."""

    __tablename__ = "audit_nodes"
    __table_args__ = _CLUSTERED

    level: int = Field(sa_column=Column("level", SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column("idx", BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column("hash", LargeBinary, nullable=False))


class AuditSubjectRow(SQLModel, table=True):
    """Look-up index from a subject id (``job``, ``participant``, …) to the entries that name it."""

    __tablename__ = "audit_subjects"
    __table_args__ = (
        Index("ix_audit_subjects_value", "subject", "value", "entry_idx"),
        _CLUSTERED,
    )

    entry_idx: int = Field(sa_column=Column("entry_idx", BigInteger, primary_key=True, autoincrement=False))
    subject: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=255)


class AuditCheckpointRow(SQLModel, table=True):
    """A checkpoint the log signed: its size, root and the signed note (log signature only)."""

    __tablename__ = "audit_checkpoints"

    size: int = Field(sa_column=Column("size", _BIGINT, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column("root_hash", LargeBinary, nullable=False))
    note: str = Field(sa_column=Column("note", Text, nullable=False))
    issued_at: str = Field(max_length=40)


class AuditCosignatureRow(SQLModel, table=True):
    """A witness cosignature line over the checkpoint of one size."""

    __tablename__ = "audit_cosignatures"
    __table_args__ = _CLUSTERED

    size: int = Field(sa_column=Column("size", BigInteger, primary_key=True, autoincrement=False))
    witness: str = Field(primary_key=True, max_length=255)
    key_id: int = Field(sa_column=Column("key_id", BigInteger, primary_key=True, autoincrement=False))
    timestamp: int = Field(sa_column=Column("timestamp", BigInteger, nullable=False))
    line: str = Field(sa_column=Column("line", Text, nullable=False))


ENTRIES: Table = AuditEntryRow.__table__  # type: ignore[attr-defined]
NODES: Table = AuditNodeRow.__table__  # type: ignore[attr-defined]
SUBJECTS: Table = AuditSubjectRow.__table__  # type: ignore[attr-defined]
CHECKPOINTS: Table = AuditCheckpointRow.__table__  # type: ignore[attr-defined]
COSIGNATURES: Table = AuditCosignatureRow.__table__  # type: ignore[attr-defined]
AUDIT_TABLES = (ENTRIES, NODES, SUBJECTS, CHECKPOINTS, COSIGNATURES)


def create_audit_tables(engine: Engine) -> None:
    """Create missing tables, and indexes added since an existing table was created."""
    SQLModel.metadata.create_all(engine, tables=list(AUDIT_TABLES))
    for table in AUDIT_TABLES:
        for index in table.indexes:
            index.create(engine, checkfirst=True)
