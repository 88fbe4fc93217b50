"""An offer's preview: a few rows desensitized by this node with the offer's own extract terms.

It is published with the offer so buyers can judge fit before they contract. The rows are drawn from a
k-anonymous extract of the first rows of the dataset, under a key of its own (``preview_scope``), so its
pseudonyms match no contract's. The coordinator scans them again before the catalogue shows them; the node
journals what it sent, with the salt of its input digest.

``publish_offer_with_preview`` is what ``dataspace-node publish`` calls for an offer with extract terms;
``python -m node.preview publish`` runs it from the command line meanwhile.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import grpc
import typer

from contracts.canonical import canonical
from contracts.desensitize import derive_contract_key
from contracts.extracts.build import ExtractReceipt, build_extract, preview_scope, sha256_hex
from contracts.extracts.grant import extract_grant
from contracts.extracts.terms import ExtractTerms
from contracts.jobspec import JobKind, JobSpec
from contracts.offers import DatasetOffer, validate_offer
from node.config import DatasetConfig, load_config
from node.exceptions import NodeError
from node.extract import fields_to_read, hardened, node_secret, read_rows
from node.identity import IDENTITY_DIR, NodeIdentity
from node.journal import Journal
from node.offers import OfferTerms
from node.publishing import prepare_offer
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import node_service_pb2_grpc as pb_grpc

PREVIEW_ROWS: Final = 5
PREVIEW_SOURCE_ROWS: Final = 5_000  # the rows the preview's k-anonymous extract is made from


class PreviewRefused(NodeError):
    """The coordinator refused the offer or its preview; the message says why."""


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


def publish_request(offer: DatasetOffer, preview: Preview | None) -> pb.PublishOfferRequest:
    return pb.PublishOfferRequest(
        offer_json=offer.model_dump_json(), preview_json=preview.to_json() if preview is not None else ""
    )


def publish_offer_with_preview(
    node_dir: Path,
    dataset: str,
    terms: OfferTerms,
    extract: ExtractTerms,
    *,
    now: datetime | None = None,
) -> tuple[DatasetOffer, Preview | None]:
    """Build the offer with ``extract`` terms and its preview, publish both, keep and journal them."""
    now = now or datetime.now(UTC)
    config = load_config(node_dir / "node.toml")
    identity = NodeIdentity.load(node_dir)
    offer = with_extract_terms(prepare_offer(config, dataset, terms, now), extract)
    secret = node_secret(node_dir / IDENTITY_DIR)
    preview = build_preview(
        config.dataset(dataset), offer, secret, rng=random.SystemRandom(), salt=secrets.token_bytes(16)
    )
    credentials = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
    with grpc.secure_channel(identity.grpc_target, credentials) as channel:
        try:
            pb_grpc.NodeServiceStub(channel).PublishOffer(publish_request(offer, preview), timeout=30)
        except grpc.RpcError as error:
            raise PreviewRefused(f"{error.code().name}: {error.details()}") from error
    offers_dir = node_dir / "offers"
    offers_dir.mkdir(exist_ok=True)
    (offers_dir / f"{offer.offer_id}.json").write_text(offer.model_dump_json(indent=2))
    if preview is not None:
        Journal(node_dir / "journal.jsonl").record(
            now, "preview_published", offer_id=offer.offer_id, rows=preview.rows,
            receipt=preview.receipt.model_dump(mode="json"), input_salt=preview.salt.hex(),
        )  # fmt: skip
    return offer, preview


# ------------------------------------------------------------------------------------ command line

app = typer.Typer(help="Publish an offer with extract terms and its desensitized preview.")


@app.callback()
def _commands() -> None:
    """Offers with extract terms, published with their preview."""


@app.command()
def publish(
    dataset: Annotated[str, typer.Argument(help="Name of a dataset in the node config.")],
    purpose: Annotated[list[str], typer.Option(help="Allowed purpose; repeatable.")],
    extract: Annotated[Path, typer.Option(help="JSON of the extract terms: rules, quasi-identifiers, k.")],
    kind: Annotated[list[str] | None, typer.Option(help="Allowed job kind (repeatable).")] = None,
    node_dir: Annotated[Path, typer.Option("--dir", help="Node directory.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Publish a dataset offer that allows desensitized extracts, with a preview of its rows."""
    declared = ExtractTerms.model_validate_json(extract.read_text(encoding="utf-8"))
    offer_terms = OfferTerms(purposes=tuple(purpose), job_kinds=tuple(kind or OfferTerms.job_kinds))
    try:
        offer, preview = publish_offer_with_preview(node_dir, dataset, offer_terms, declared)
    except Exception as exc:  # every refusal reaches the factory as one readable line
        typer.echo(f"offer refused: {exc}", err=True)
        raise typer.Exit(2) from None
    shown: dict[str, Any] = {"offer_id": offer.offer_id, "preview": preview.rows if preview else None}
    typer.echo(json.dumps(shown, ensure_ascii=False) if as_json else f"published {offer.offer_id}")


if __name__ == "__main__":
    app()
