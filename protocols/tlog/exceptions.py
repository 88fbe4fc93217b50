"""Errors of the transparency log; callers map them to HTTP or gRPC status codes only at the edges.

AuditError
├── ProofError               an inclusion or consistency proof does not verify
├── NoteError                a signed note cannot be trusted
│   ├── MalformedNoteError   not a well-formed note (encoding, layout, base64)
│   ├── KeyFormatError       a signer or verifier key string is malformed
│   ├── UnverifiedNoteError  no signature from a known key
│   └── SignatureError       a signature from a known key does not verify
├── CheckpointError          a checkpoint body breaks the tlog-checkpoint format
├── MissingCosignatureError  the newest checkpoint lacks cosignatures the verifier asked for
├── EntryError               an audit entry cannot be encoded or decoded canonically
├── LogRangeError            an index or tree size outside the log as it stands
└── TamperError              the stored log disagrees with itself or its signed checkpoints
"""

from __future__ import annotations


class AuditError(Exception):
    """Base of every error raised by the audit package."""


class ProofError(AuditError):
    pass


class NoteError(AuditError):
    pass


class MalformedNoteError(NoteError):
    pass


class KeyFormatError(NoteError):
    pass


class UnverifiedNoteError(NoteError):
    pass


class SignatureError(NoteError):
    pass


class CheckpointError(AuditError):
    pass


class MissingCosignatureError(AuditError):
    """The newest checkpoint (of ``size`` entries) lacks cosignatures from the ``missing`` witnesses."""

    def __init__(self, reason: str, *, size: int | None, missing: tuple[str, ...]) -> None:
        super().__init__(reason)
        self.size = size
        self.missing = missing


class EntryError(AuditError):
    pass


class LogRangeError(AuditError):
    pass


class TamperError(AuditError):
    """The first inconsistency found, with the leaf index it concerns (None for a checkpoint signature)."""

    def __init__(self, reason: str, *, index: int | None, checkpoint_size: int | None = None) -> None:
        where = f" at index {index}" if index is not None else ""
        super().__init__(f"tampering detected{where}: {reason}")
        self.reason = reason
        self.index = index
        self.checkpoint_size = checkpoint_size
