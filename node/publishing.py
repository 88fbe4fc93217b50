"""Publish an offer to the coordinator over mutual TLS; the provider is the certificate's participant.

A dataset is published only when its declarations are confirmed (``node.offers``) and its files are there
and carry the declared columns and types (``dataspace-node check``): an offer for columns the files do not
have would promise what no job can get. A file that is only unreadable for now (a malformed line, a copy
still being written) does not change what the offer promises; it is reported, and jobs are refused until
it is repaired.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import grpc

from contracts.extracts.terms import ExtractTerms
from contracts.offers import DatasetOffer
from node.config import NodeConfig, load_config
from node.datacheck import check_dataset
from node.exceptions import NodeError
from node.extract import node_secret
from node.identity import IDENTITY_DIR, NodeIdentity
from node.journal import Journal
from node.offers import OfferNotReady, OfferTerms, build_offer
from node.preview import Preview, build_preview, with_extract_terms
from node.quality import measure_quality
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import node_service_pb2_grpc as pb_grpc

# Problems that make the offer's promise false, rather than the file unreadable for a while.
BLOCKING: Final = frozenset({"schema_mismatch", "data_missing"})


class OfferRefused(NodeError):
    """The coordinator refused the offer; the message says why."""


def prepare_offer(
    config: NodeConfig,
    dataset: str,
    terms: OfferTerms,
    now: datetime,
    warn: Callable[[str], None] | None = None,
) -> DatasetOffer:
    """The offer; ``OfferNotReady`` when the files do not carry the schema or a declaration is unconfirmed."""
    report = check_dataset(config.dataset(dataset))
    blocking = [p for p in report.problems if p.code in BLOCKING]
    if blocking:
        problems = "; ".join(f"{p.code}: {p.message}" for p in blocking)
        raise OfferNotReady(
            f"dataset {dataset} is not usable, so it is not offered: {problems} "
            f"(`dataspace-node check {dataset}` shows every file)"
        )
    offer = build_offer(config, dataset, terms, now)
    for problem in report.problems:
        if warn is not None:
            warn(f"{problem.code}: {problem.message}; jobs are refused until the file is repaired")
    if report.problems:  # figures over a file that cannot be read now would mislead: publish none
        return offer
    quality = measure_quality(config.dataset(dataset), offer.usable_fields(), now)
    return offer.model_copy(update={"quality": quality})


def publish_offer(
    node_dir: Path,
    dataset: str,
    terms: OfferTerms,
    warn: Callable[[str], None] | None = None,
    *,
    extract: ExtractTerms | None = None,
    now: datetime | None = None,
) -> tuple[DatasetOffer, Preview | None]:
    """Publish ``dataset``'s offer; with ``extract`` terms, also a preview of rows desensitized under them.

    The offer is kept under ``offers/`` once the coordinator took it, and the preview journalled with the
    salt of its input digest (never sent), so the factory can show what left and prove from what.
    """
    now = now or datetime.now(UTC)
    config = load_config(node_dir / "node.toml")
    offer = prepare_offer(config, dataset, terms, now, warn)
    preview = None
    if extract is not None:
        offer = with_extract_terms(offer, extract)
        preview = build_preview(
            config.dataset(dataset),
            offer,
            node_secret(node_dir / IDENTITY_DIR),
            rng=random.SystemRandom(),
            salt=secrets.token_bytes(16),
        )
    identity = NodeIdentity.load(node_dir)
    credentials = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
    request = pb.PublishOfferRequest(
        offer_json=offer.model_dump_json(), preview_json=preview.to_json() if preview is not None else ""
    )
    with grpc.secure_channel(identity.grpc_target, credentials) as channel:
        try:
            pb_grpc.NodeServiceStub(channel).PublishOffer(request, timeout=30)
        except grpc.RpcError as error:
            raise OfferRefused(f"{error.code().name}: {error.details()}") from error
    offers_dir = node_dir / "offers"
    offers_dir.mkdir(exist_ok=True)
    (offers_dir / f"{offer.offer_id}.json").write_text(offer.model_dump_json(indent=2))
    if preview is not None:
        Journal(node_dir / "journal.jsonl").record(
            now, "preview_published", offer_id=offer.offer_id, rows=preview.rows,
            receipt=preview.receipt.model_dump(mode="json"), input_salt=preview.salt.hex(),
        )  # fmt: skip
    return offer, preview
