"""The coordinator's checks on what nodes send before a record leaves the space, and the merge.

Every node's extract is read back strictly (canonical JSON, exactly the requested columns, scalar values),
matched against its receipt, scanned again for personal data with ``contracts.detectors`` and checked for
k-anonymity (and l-diversity) on the quasi-identifiers it carries; then the merged rows are checked again.
Any failure blocks the whole release with a reason naming the node, field and kind, never the value.

Why the merge stays k-anonymous: each node's rows are k-anonymous on the same columns, and a class of the
merged rows is the union of the classes with that label at each node, each empty or of at least k rows
(and at least l distinct sensitive values); nodes may generalize to different levels, which only makes
their labels differ. The check on the merged rows is the same test run once more.

The scan cannot tell an FF1 surrogate from a real identifier of the same format: that is what
format-preserving means. Findings of the kind a field's FF1 format produces are therefore expected in that
field and let through; the node's own encryption is the protection there.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from pydantic import ValidationError

from contracts.canonical import CanonicalError, canonical, parse_canonical
from contracts.desensitize import FF1Rule, k_anonymity, l_diversity, rules_digest
from contracts.detectors import Finding, Kind, find_personal_data
from contracts.extracts.build import MAX_EXTRACT_BYTES, ExtractReceipt, preview_scope, sha256_hex
from contracts.extracts.exceptions import ExtractErrorCode, ReleaseBlocked
from contracts.extracts.grant import ExtractGrant, check_columns

MAX_PREVIEW_ROWS: Final = 20
_SCALARS = (str, int, float, type(None))
_DIGITS = frozenset({Kind.MOBILE, Kind.BANK_CARD, Kind.RESIDENT_ID, Kind.RESIDENT_ID_15})
# What a field's FF1 format is expected to produce (it keeps every other character in place).
_FF1_KINDS: Final[Mapping[str, frozenset[Kind]]] = {
    "resident_id": frozenset({Kind.RESIDENT_ID}),
    "uscc": frozenset({Kind.USCC}),
    "numeric": _DIGITS,
    "alphanumeric": _DIGITS | {Kind.USCC, Kind.LICENCE_PLATE, Kind.EMAIL},
}


@dataclass(frozen=True)
class NodeUpload:
    """One node's extract as it arrived: canonical JSON of its rows and of its receipt."""

    rows: bytes
    receipt: bytes


@dataclass(frozen=True)
class Release:
    rows: list[dict[str, Any]]
    rows_json: bytes
    k: int
    l: int | None  # noqa: E741
    receipts: dict[str, ExtractReceipt]

    @property
    def output_digest(self) -> str:
        return sha256_hex(self.rows_json)


def release(
    uploads: Mapping[str, NodeUpload],
    grant: ExtractGrant,
    columns: Sequence[str],
    scope: str,
    *,
    today: date,
) -> Release:
    """Check every node's extract and merge them; raise ``ReleaseBlocked`` if anything must not leave."""
    check_columns(columns, grant)  # as at admission: the grant may release every requested column
    terms = grant.terms
    qis = [name for name in terms.quasi_identifier_names if name in columns]
    sensitive = terms.sensitive if terms.l is not None and terms.sensitive in columns else None
    merged: list[dict[str, Any]] = []
    receipts = {}
    for node, upload in sorted(uploads.items()):
        rows = read_rows(node, upload.rows, columns)
        receipts[node] = check_receipt(node, upload, rows, grant, scope)
        block_personal_data(node, rows, grant, today=today)
        check_privacy_model(node, rows, qis, grant, sensitive)
        merged.extend(rows)
    check_privacy_model("merged", merged, qis, grant, sensitive)
    ordered = [row for _, row in sorted(((canonical(row), row) for row in merged), key=lambda p: p[0])]
    return Release(
        rows=ordered,
        rows_json=canonical(ordered),
        k=k_anonymity(ordered, qis) if qis else len(ordered),
        l=l_diversity(ordered, qis, sensitive) if sensitive is not None else None,
        receipts=receipts,
    )


def read_rows(node: str, data: bytes, columns: Collection[str]) -> list[dict[str, Any]]:
    """The rows of one upload: a canonical JSON array of objects, each with exactly ``columns``."""
    if len(data) > MAX_EXTRACT_BYTES:
        raise ReleaseBlocked(
            ExtractErrorCode.TOO_LARGE, f"node {node} sent {len(data)} bytes, above {MAX_EXTRACT_BYTES}",
            node=node, size=len(data), limit=MAX_EXTRACT_BYTES,
        )  # fmt: skip
    try:
        rows = parse_canonical(data)
    except (CanonicalError, ValueError) as exc:
        raise _malformed(node, f"its rows are not canonical JSON ({type(exc).__name__})") from None
    if not isinstance(rows, list):
        raise _malformed(node, "its rows are not a list")
    expected = set(columns)
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != expected:
            raise _malformed(node, f"row {index} does not hold exactly the requested columns", row=index)
        if not all(isinstance(value, _SCALARS) and not isinstance(value, bool) for value in row.values()):
            raise _malformed(node, f"row {index} holds a value that is not a string or number", row=index)
    return rows


def check_receipt(
    node: str, upload: NodeUpload, rows: Sequence[Mapping[str, Any]], grant: ExtractGrant, scope: str
) -> ExtractReceipt:
    """The node's receipt, which must describe exactly these rows under these terms."""
    try:
        receipt = ExtractReceipt.model_validate_json(upload.receipt)
    except ValidationError as exc:
        raise _malformed(node, f"its receipt is malformed ({exc.error_count()} errors)") from None
    mismatches = {
        "scope": receipt.scope == scope,
        "rules_digest": receipt.rules_digest == rules_digest(grant.terms.rules),
        "rows": receipt.rows == len(rows),
        "output_digest": receipt.output_digest == sha256_hex(upload.rows),
        "k_required": receipt.k_required == grant.terms.k,
    }
    wrong = sorted(name for name, holds in mismatches.items() if not holds)
    if wrong:
        raise ReleaseBlocked(
            ExtractErrorCode.RECEIPT_MISMATCH,
            f"the receipt of node {node} does not match what it sent: {', '.join(wrong)}",
            node=node, fields=wrong,
        )  # fmt: skip
    return receipt


def block_personal_data(
    node: str, rows: Sequence[Mapping[str, Any]], grant: ExtractGrant, *, today: date
) -> None:
    """Raise ``ReleaseBlocked`` (personal_data_detected) at the first identifier the detectors find."""
    finding = next(iter(personal_data(rows, grant, today=today, limit=1)), None)
    if finding is not None:
        raise ReleaseBlocked(
            ExtractErrorCode.PERSONAL_DATA_DETECTED,
            f"node {node} sent what reads as {finding.kind.value} in field {finding.column!r} "
            f"(row {finding.row}); nothing is released",
            node=node, field=finding.column, kind=finding.kind.value, row=finding.row,
        )  # fmt: skip


def personal_data(
    rows: Sequence[Mapping[str, Any]], grant: ExtractGrant, *, today: date, limit: int | None = None
) -> list[Finding]:
    """What the detectors find in ``rows``, less what a field's FF1 format is expected to produce."""
    rules = grant.terms.rules.fields
    expected = {name: _FF1_KINDS[rule.format] for name, rule in rules.items() if isinstance(rule, FF1Rule)}
    found = []
    for finding in find_personal_data(rows, today=today):
        if finding.kind not in expected.get(finding.column or "", frozenset()):
            found.append(finding)
            if limit is not None and len(found) >= limit:
                break
    return found


def check_privacy_model(
    node: str,
    rows: Sequence[Mapping[str, Any]],
    qis: Sequence[str],
    grant: ExtractGrant,
    sensitive: str | None,
) -> None:
    terms = grant.terms
    if not rows:
        return
    reached = k_anonymity(rows, qis) if qis else len(rows)
    if reached < terms.k:
        raise ReleaseBlocked(
            ExtractErrorCode.NOT_K_ANONYMOUS,
            f"the rows of {node} hold a class of {reached} on {list(qis)}, below k={terms.k}",
            node=node, k=terms.k, reached=reached,
        )  # fmt: skip
    if sensitive is not None and terms.l is not None:
        diverse = l_diversity(rows, qis, sensitive) if qis else len({row[sensitive] for row in rows})
        if diverse < terms.l:
            raise ReleaseBlocked(
                ExtractErrorCode.NOT_L_DIVERSE,
                f"the rows of {node} hold a class with {diverse} distinct {sensitive!r}, below l={terms.l}",
                node=node, l=terms.l, reached=diverse,
            )  # fmt: skip


def check_preview(
    provider: str, offer_id: str, grant: ExtractGrant, data: bytes, *, today: date
) -> tuple[list[dict[str, Any]], ExtractReceipt]:
    """An offer's preview (``{"rows": [...], "receipt": {...}}``): releasable columns only, and clean."""
    node = provider
    try:
        document = parse_canonical(data)
    except (CanonicalError, ValueError) as exc:
        raise _malformed(node, f"its preview is not canonical JSON ({type(exc).__name__})") from None
    if not isinstance(document, dict) or set(document) != {"rows", "receipt"}:
        raise _malformed(node, "a preview holds rows and a receipt")
    raw_rows = document["rows"]
    if not isinstance(raw_rows, list) or len(raw_rows) > MAX_PREVIEW_ROWS:
        raise _malformed(node, f"a preview holds a list of at most {MAX_PREVIEW_ROWS} rows")
    columns = set(raw_rows[0]) if raw_rows and isinstance(raw_rows[0], dict) else set()
    unreleasable = sorted(columns - set(grant.releasable()))
    if unreleasable:
        raise ReleaseBlocked(
            ExtractErrorCode.NOT_RELEASABLE, f"the preview shows fields the offer does not release: "
            f"{unreleasable}", fields=unreleasable,
        )  # fmt: skip
    rows_json = canonical(raw_rows)
    rows = read_rows(node, rows_json, columns)
    receipt = check_receipt(
        node, NodeUpload(rows_json, canonical(document["receipt"])), rows, grant, preview_scope(offer_id)
    )
    block_personal_data(node, rows, grant, today=today)
    return rows, receipt


def _malformed(node: str, reason: str, **details: Any) -> ReleaseBlocked:
    return ReleaseBlocked(
        ExtractErrorCode.MALFORMED_EXTRACT, f"node {node} sent a malformed extract: {reason}", node=node,
        **details,
    )  # fmt: skip
