"""A dataset file seen from outside: is it there, whole and UTF-8, and does its header carry the schema.

``DataGuard`` runs these cheap checks before each job, and only for a file whose signature (device, inode,
size, modification time) changed since it last passed, so an unchanged file costs one ``stat`` per job.
A changed CSV file is read once at C speed to validate its UTF-8; its lines are parsed by the job itself,
which turns a malformed line into a refusal. ``dataspace-node check`` (``node.datacheck``) goes further.
"""

from __future__ import annotations

import codecs
import csv
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import duckdb

from contracts.schema import DatasetSchema
from node import engine
from node.config import DatasetConfig
from node.exceptions import DataMissing, DataUnreadable, SchemaMismatch

SourceFormat = Literal["csv", "parquet"]
HEADER_LIMIT = 1 << 20  # a header line longer than this is not a header
CHUNK = 8 << 20
LINE_BREAKS = (b"\n", b"\r")


@dataclass(frozen=True)
class Signature:
    """What identifies one version of a file without reading it."""

    device: int
    inode: int
    size: int
    mtime_ns: int


def signature(path: Path) -> Signature:
    """The file's signature; ``DataMissing`` when it is not there or not a regular file."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise DataMissing("a dataset file is not there", f"{path}: {exc.strerror}") from exc
    except OSError as exc:
        raise DataUnreadable("a dataset file cannot be read", f"{path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise DataMissing("a dataset path is not a regular file", str(path))
    return Signature(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@contextmanager
def opened(path: Path) -> Iterator[BinaryIO]:
    """Open for reading: a vanished file raises ``DataMissing``, any other failure ``DataUnreadable``."""
    try:
        handle = path.open("rb")
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise DataMissing("a dataset file is not there", f"{path}: {exc.strerror}") from exc
    except OSError as exc:
        raise DataUnreadable("a dataset file cannot be read", f"{path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            yield handle
        except OSError as exc:
            raise DataUnreadable("a dataset file cannot be read", f"{path}: {exc.strerror or exc}") from exc


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file's first line (comma-separated, double quotes, a UTF-8 BOM allowed)."""
    with opened(path) as handle:
        head = handle.read(HEADER_LIMIT + 1)
    if not head:
        raise DataUnreadable("a dataset file is empty", str(path))
    ends = [i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0]
    if not ends and len(head) > HEADER_LIMIT:
        raise DataUnreadable("a dataset file's first line is too long to be a header", str(path))
    line = head[: min(ends, default=len(head))]
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataUnreadable("a dataset file's header is not valid UTF-8", f"{path}: {exc}") from exc
    try:
        row = next(csv.reader([text], delimiter=",", quotechar='"', doublequote=True, strict=True), [])
    except csv.Error as exc:
        raise DataUnreadable("a dataset file's header is malformed", f"{path}: {exc}") from exc
    if not any(name.strip() for name in row):
        raise DataUnreadable("a dataset file has no header line", str(path))
    return row


def parquet_columns(path: Path) -> list[str]:
    """The column names of a Parquet file, from its footer."""
    signature(path)
    try:
        with engine.shared().cursor() as con:
            rows = con.execute("DESCRIBE SELECT * FROM read_parquet($file)", {"file": str(path)}).fetchall()
    except duckdb.Error as exc:
        raise DataUnreadable("a Parquet file is corrupt or truncated", f"{path}: {exc}") from exc
    return [str(row[0]) for row in rows]


def columns_of(path: Path, fmt: SourceFormat) -> list[str]:
    return csv_header(path) if fmt == "csv" else parquet_columns(path)


@dataclass(frozen=True)
class HeaderFit:
    """How a file's columns meet the schema: declared fields absent or repeated, and columns not declared."""

    missing: tuple[str, ...]
    duplicated: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.duplicated


def fit_header(columns: Sequence[str], schema: DatasetSchema) -> HeaderFit:
    declared = schema.field_names
    return HeaderFit(
        missing=tuple(name for name in declared if name not in columns),
        duplicated=tuple(name for name in declared if columns.count(name) > 1),
        extra=tuple(dict.fromkeys(c for c in columns if c not in declared)),
    )


def require_fields(path: Path, columns: Sequence[str], schema: DatasetSchema) -> None:
    """Raise ``SchemaMismatch`` unless every declared field heads exactly one column."""
    fit = fit_header(columns, schema)
    if fit.missing:
        raise SchemaMismatch(
            f"declared field(s) {', '.join(fit.missing)} missing from a file's header",
            f"{path}: the header has {', '.join(columns)}",
        )
    if fit.duplicated:
        raise SchemaMismatch(
            f"declared field(s) {', '.join(fit.duplicated)} repeated in a file's header", str(path)
        )


def ends_with_line_break(path: Path) -> bool:
    with opened(path) as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 1))
        return handle.read(1) in LINE_BREAKS


def is_utf8(path: Path) -> bool:
    """Whether the whole file is valid UTF-8 (decoded in chunks, so memory stays bounded)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with opened(path) as handle:
        try:
            while chunk := handle.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def invalid_utf8_lines(path: Path) -> tuple[int, int | None]:
    """How many lines are not valid UTF-8, and the first of them (1-based); a valid file is read once."""
    if is_utf8(path):
        return 0, None
    bad, first = 0, None
    with opened(path) as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
                first = first or number
    return bad, first


def quick_check(path: Path, schema: DatasetSchema, fmt: SourceFormat) -> None:
    """The check before a job: header, whole last line and UTF-8 for CSV; the footer's columns for Parquet."""
    require_fields(path, columns_of(path, fmt), schema)
    if fmt != "csv":
        return
    if not ends_with_line_break(path):
        raise DataUnreadable(
            "a dataset file's last line has no line break: it may be truncated or still being written",
            f"{path} (if it is complete, end it with a line break)",
        )
    if not is_utf8(path):
        raise DataUnreadable(
            "a dataset file is not valid UTF-8", f"{path} (`dataspace-node check` lists the lines)"
        )


class DataGuard:
    """The files found sound, with the signature each had then; thread-safe."""

    def __init__(self) -> None:
        self._sound: dict[Path, Signature] = {}
        self._lock = threading.Lock()

    def verify(self, dataset: DatasetConfig) -> None:
        """Raise a ``DataError`` unless every file of ``dataset`` passes ``quick_check`` as it is now."""
        for path in dataset.paths:
            before = signature(path)
            with self._lock:
                if self._sound.get(path) == before:
                    continue
            quick_check(path, dataset.schema, dataset.format)
            if signature(path) == before:  # not rewritten while we looked
                self.trust(path, before)

    def trust(self, path: Path, seen: Signature) -> None:
        with self._lock:
            self._sound[path] = seen

    def forget(self, paths: Iterable[Path]) -> None:
        with self._lock:
            for path in paths:
                self._sound.pop(path, None)
