"""An offer's preview: a few rows desensitized by this node with the offer's own extract terms.

It is published with the offer so buyers can judge fit before they contract. The rows are drawn from a
k-anonymous extract of the first rows of the dataset, under a key of its own (``preview_scope``), so its
pseudonyms match no contract's. The coordinator scans them again before the catalogue shows them; the node
journals what it sent, with the salt of its input digest.

``dataspace-node publish --extract FILE`` (``node.publishing``) builds it and sends it with the offer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from contracts.canonical import canonical
from contracts.desensitize import derive_contract_key
from contracts.extracts.build import ExtractReceipt, build_extract, preview_scope, sha256_hex
from contracts.extracts.grant import extract_grant
from contracts.extracts.terms import ExtractTerms
from contracts.jobspec import JobKind, JobSpec
from contracts.offers import DatasetOffer, validate_offer
from node.config import DatasetConfig
from node.extract import fields_to_read, hardened, read_rows

PREVIEW_ROWS: Final = 5
PREVIEW_SOURCE_ROWS: Final = 5_000  # the rows the preview's k-anonymous extract is made from


@dataclass(frozen=True)
class Preview:
    rows: list[dict[str, object]]
    receipt: ExtractReceipt
    salt: bytes  # of the receipt's input digest; journalled, never sent

    def to_json(self) -> str:
        """Canonical JSON ``{"rows": [...], "receipt": {...}}``, as the coordinator reads it."""
        document = {"rows": self.rows, "receipt": self.receipt.model_dump(mode="json")}
        return canonical(document).decode()


def with_extract_terms(offer: DatasetOffer, extract: ExtractTerms) -> DatasetOffer:
    """``offer`` declaring ``extract`` too, validated again as a whole."""
    document = {**offer.model_dump(mode="json"), "extract": extract.model_dump(mode="json")}
    declared = DatasetOffer.model_validate(document)
    validate_offer(declared)
    return declared


def build_preview(
    dataset: DatasetConfig,
    offer: DatasetOffer,
    secret: bytes,
    *,
    rng: random.Random,
    salt: bytes,
    size: int = PREVIEW_ROWS,
) -> Preview | None:
    """``size`` rows of the offer's extract of ``dataset``, every releasable column; None without terms."""
    grant = extract_grant([offer])
    if grant is None:
        return None
    grant = hardened(grant, dataset.schema)
    columns = list(grant.releasable())
    spec = JobSpec(kind=JobKind.EXTRACT, dataset=offer.dataset, columns=columns)
    rows = read_rows(dataset, spec, fields_to_read(grant, columns), PREVIEW_SOURCE_ROWS)
    key = derive_contract_key(secret, preview_scope(offer.offer_id))
    built = build_extract(rows[:PREVIEW_SOURCE_ROWS], grant, columns, key, salt=salt)
    picked = sorted(rng.sample(range(len(built.rows)), min(size, len(built.rows))))
    chosen = [built.rows[i] for i in picked]  # a subset of sorted rows stays sorted
    # k and l stay those of the extract the rows come from; the count and digest are the preview's own.
    receipt = built.receipt.model_copy(
        update={"rows": len(chosen), "output_digest": sha256_hex(canonical(chosen))}
    )
    return Preview(chosen, receipt, salt)
