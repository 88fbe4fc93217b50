"""Record-level releases at the coordinator: the check before an extract or a preview leaves, and receipts.

The checks themselves are pure (``contracts.extracts.release``): every value is scanned again for personal
data, each node's rows and the merged rows are checked for k-anonymity (and l-diversity), and the receipts
must describe exactly what arrived. Here they are applied to a contract or an offer, and the result and
the audit receipt are shaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from contracts.agreement import Contract
from contracts.desensitize import rules_digest
from contracts.extracts.build import ExtractReceipt
from contracts.extracts.exceptions import ExtractErrorCode, ReleaseBlocked
from contracts.extracts.grant import ExtractGrant, extract_grant
from contracts.extracts.release import NodeUpload, Release, check_preview, release
from contracts.offers import DatasetOffer


def contract_grant(contract: Contract) -> ExtractGrant:
    grant = contract.terms.extract
    if grant is None:
        raise ReleaseBlocked(
            ExtractErrorCode.NOT_GRANTED, f"contract {contract.contract_id} grants no record-level release"
        )
    return grant


def release_extract(
    contract: Contract, columns: Sequence[str], uploads: Mapping[str, NodeUpload], *, today: date
) -> Release:
    """The merged extract of ``uploads`` under ``contract``; ``ReleaseBlocked`` if anything must not leave."""
    return release(uploads, contract_grant(contract), columns, contract.contract_id, today=today)


def extract_result(released: Release, contract: Contract, columns: Sequence[str]) -> dict[str, Any]:
    """What the buyer reads: the rows, and the guarantees they were released under."""
    terms = contract_grant(contract).terms
    qis = [name for name in terms.quasi_identifier_names if name in columns]
    return {
        "kind": "extract",
        "columns": list(columns),
        "rows": released.rows,
        "row_count": len(released.rows),
        "quasi_identifiers": qis,
        "k_required": terms.k,
        "k": released.k,
        "l_required": terms.l if released.l is not None else None,
        "l": released.l,
        "sensitive": terms.sensitive if released.l is not None else None,
        "rules_digest": rules_digest(terms.rules),
        "output_digest": released.output_digest,
        "contributors": len(released.receipts),
    }


def extract_receipt(released: Release, contract: Contract, columns: Sequence[str]) -> dict[str, Any]:
    """The ``extract.released`` audit entry: the rules' digest, operators, k and l, rows and digests.

    ``operators`` are the contract's rule of each column; each node's part adds the generalization it
    chose for the quasi-identifiers (nodes may choose different levels).
    """
    terms = contract_grant(contract).terms
    return {
        "contract": contract.contract_id,
        "rules_digest": rules_digest(terms.rules),
        "operators": {name: terms.rules.fields[name].op for name in columns},
        "k_required": terms.k,
        "k": released.k,
        "l_required": terms.l if released.l is not None else None,
        "l": released.l,
        "rows": len(released.rows),
        "output_digest": released.output_digest,
        "nodes": [_node_part(pid, receipt) for pid, receipt in sorted(released.receipts.items())],
    }


def _node_part(participant: str, receipt: ExtractReceipt) -> dict[str, Any]:
    return {
        "participant": participant,
        "rows": receipt.rows,
        "input_rows": receipt.input_rows,
        "incomplete": receipt.incomplete,
        "suppressed": receipt.suppressed,
        "k": receipt.k,
        "l": receipt.l,
        "levels": receipt.levels,
        "generalized": {name: steps[-1] for name, steps in receipt.operators.items() if len(steps) > 1},
        "input_digest": receipt.input_digest,
        "output_digest": receipt.output_digest,
    }


def check_offer_preview(
    offer: DatasetOffer, preview_json: str, *, today: date
) -> tuple[list[dict[str, Any]], ExtractReceipt]:
    """An offer's preview rows, if they show only what its extract terms release and no personal data."""
    grant = extract_grant([offer])
    if grant is None:
        raise ReleaseBlocked(
            ExtractErrorCode.NOT_GRANTED, "a preview needs extract terms in its offer", offer=offer.offer_id
        )
    return check_preview(offer.provider, offer.offer_id, grant, preview_json.encode(), today=today)


def preview_receipt(offer: DatasetOffer, receipt: ExtractReceipt) -> dict[str, Any]:
    """The ``preview.published`` audit entry."""
    return {
        "offer": offer.offer_id,
        "rules_digest": receipt.rules_digest,
        "operators": {name: list(steps) for name, steps in receipt.operators.items()},
        "k_required": receipt.k_required,
        "k": receipt.k,
        "l_required": receipt.l_required,
        "l": receipt.l,
        "rows": receipt.rows,
        "input_rows": receipt.input_rows,
        "input_digest": receipt.input_digest,
        "output_digest": receipt.output_digest,
    }
