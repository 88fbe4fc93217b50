"""Publish an offer to the coordinator over mutual TLS; the provider is the certificate's participant."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import grpc

from contracts.offers import DatasetOffer
from node.config import load_config
from node.exceptions import NodeError
from node.identity import NodeIdentity
from node.offers import OfferTerms, build_offer
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import node_service_pb2_grpc as pb_grpc


class OfferRefused(NodeError):
    """The coordinator refused the offer; the message says why."""


def publish_offer(node_dir: Path, dataset: str, terms: OfferTerms, terms_file: Path | None) -> DatasetOffer:
    config = load_config(node_dir / "node.toml")
    identity = NodeIdentity.load(node_dir)
    offer = build_offer(config, dataset, terms, datetime.now(UTC), terms_file)
    credentials = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
    with grpc.secure_channel(identity.grpc_target, credentials) as channel:
        try:
            pb_grpc.NodeServiceStub(channel).PublishOffer(
                pb.PublishOfferRequest(offer_json=offer.model_dump_json()), timeout=30
            )
        except grpc.RpcError as error:
            raise OfferRefused(f"{error.code().name}: {error.details()}") from error
    offers_dir = node_dir / "offers"
    offers_dir.mkdir(exist_ok=True)
    (offers_dir / f"{offer.offer_id}.json").write_text(offer.model_dump_json(indent=2))
    return offer
