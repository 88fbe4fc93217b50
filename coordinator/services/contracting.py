"""Offers and multi-party usage contracts at the coordinator: publish, propose, move, sign, countersign.

The domain rules (validation, term compilation, the negotiation state machine, signatures) live in
``contracts/``; this module persists, audits and tells the provider nodes where each contract stands.
"""

from __future__ import annotations

import base64
import uuid

from pydantic import ValidationError

from contracts.agreement import Contract, advance, draft_contract
from contracts.canonical import CanonicalError, bounded_text, canonical
from contracts.exceptions import ContractsError
from contracts.negotiation import Event as Move
from contracts.negotiation import Stage
from contracts.offers import DatasetOffer, validate_offer
from contracts.signatures import PartySignature
from contracts.signing import countersign, sign_statement, verify_signature, verify_statement
from contracts.statements import SignedStatement, StatementAction
from coordinator.audit.trail import OPERATOR, Event
from coordinator.context import CoordinatorContext
from coordinator.exceptions import (
    CoordinatorError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from coordinator.services import catalog, extracts
from coordinator.store.tables import OfferPreviewRow, OfferRow
from proto.dataspace.v1 import node_service_pb2 as pb


def publish_offer(
    ctx: CoordinatorContext, provider: str, offer_json: str, preview_json: str = ""
) -> DatasetOffer:
    """Validate and store a provider's offer (and its preview); a refused offer is audited with its reason.

    A preview that shows a field the offer's extract terms do not release, or anything the detectors read
    as personal data, refuses the whole offer: the node's desensitization is not to be trusted then.
    """
    preview = None
    try:
        offer = DatasetOffer.model_validate_json(offer_json)
        if offer.provider != provider:
            raise PermissionDeniedError(f"{provider} cannot publish an offer of {offer.provider}",
                                        code="not_the_provider")  # fmt: skip
        validate_offer(offer)
        canonical(offer.model_dump(mode="json"))  # its terms will be signed: they must be canonical JSON
        if preview_json:
            preview = extracts.check_offer_preview(offer, preview_json, today=ctx.clock().date())
    except (ValidationError, CanonicalError) as exc:
        _refuse_offer(ctx, provider, "malformed_offer", str(exc))
        raise InvalidRequestError(f"offer is malformed: {bounded_text(str(exc), 500)}",
                                  code="malformed_offer") from exc  # fmt: skip
    except (ContractsError, CoordinatorError) as exc:
        _refuse_offer(ctx, provider, exc.code, str(exc))
        raise
    now = ctx.clock()
    ctx.store.add_offer(OfferRow(offer_id=offer.offer_id, provider=provider, dataset=offer.dataset,
                                 offer_text=offer.model_dump_json(), published_at=now),
                        *catalog.catalog_rows(offer, now))  # fmt: skip
    summary = {
        "dataset": offer.dataset,
        "job_kinds": list(offer.allowed_job_kinds),
        "purposes": list(offer.allowed_purposes),
        "regions": list(offer.allowed_regions),
    }
    subjects = {"offer": offer.offer_id, "participant": provider}
    ctx.audit.record(provider, Event.OFFER_PUBLISHED, subjects, summary)
    if preview is not None:
        rows, receipt = preview
        ctx.store.add_offer_preview(OfferPreviewRow(
            offer_id=offer.offer_id, provider=provider, rows_text=canonical(rows).decode(),
            receipt_text=canonical(receipt.model_dump(mode="json")).decode(), published_at=ctx.clock(),
        ))  # fmt: skip
        published = extracts.preview_receipt(offer, receipt)
        ctx.audit.record(provider, Event.PREVIEW_PUBLISHED, subjects, published)
    return offer


def _refuse_offer(ctx: CoordinatorContext, provider: str, code: str, reason: str) -> None:
    ctx.audit.record(
        provider,
        Event.OFFER_REFUSED,
        {"participant": provider},
        {"code": code, "reason": bounded_text(reason, 500)},
    )


def propose(ctx: CoordinatorContext, buyer: str, offer_ids: list[str], purpose: str, region: str) -> Contract:
    rows = ctx.store.offers(offer_ids)
    missing = sorted(set(offer_ids) - {r.offer_id for r in rows})
    if missing:
        raise NotFoundError(
            f"unknown offers: {', '.join(missing)}", code="offer_not_found", details={"missing": missing}
        )
    offers = [DatasetOffer.model_validate_json(r.offer_text) for r in rows]
    contract = draft_contract("ctr_" + uuid.uuid4().hex, offers, buyer=buyer, operator=OPERATOR,
                              purpose=purpose, region=region, now=ctx.clock())  # fmt: skip
    _store(ctx, contract, buyer, Move.REQUEST)
    return contract


def load(ctx: CoordinatorContext, contract_id: str) -> Contract:
    return Contract.model_validate_json(ctx.store.contract(contract_id).contract_text)


def visible(ctx: CoordinatorContext, contract_id: str, participant: str, is_operator: bool) -> Contract:
    contract = load(ctx, contract_id)
    if not is_operator and participant not in contract.parties:
        raise NotFoundError(f"no contract {contract_id}", code="contract_not_found")
    return contract


ENDING_MOVES = frozenset({Move.REVOKE, Move.TERMINATE})


def act(
    ctx: CoordinatorContext,
    contract_id: str,
    actor: str,
    move: Move,
    signature: PartySignature | None = None,
    statement: SignedStatement | None = None,
) -> Contract:
    """One party's move. A signature or statement is checked against the key the party registered.

    Revoking or terminating needs the party's own signed statement, which is stored in the contract and
    forwarded to the nodes; the operator's own is signed here with the operator key.
    Someone outside the contract gets the same 404 as for reading it: a refusal with the current state
    would tell a stranger that the contract exists and where it stands.
    """
    contract = load(ctx, contract_id)
    if actor not in contract.parties and actor != contract.operator:
        raise NotFoundError(f"no contract {contract_id}", code="contract_not_found")
    if move is Move.SIGN:
        contract = _attach_signature(ctx, contract, actor, signature)
    ending = _check_statement(ctx, contract, actor, move, statement) if move in ENDING_MOVES else None
    contract = advance(contract, move, actor, ctx.clock())
    if ending is not None:
        contract = contract.with_statement(ending)
    if contract.state is Stage.VERIFIED:
        _store(ctx, contract, actor, move)
        keys = {
            party: base64.b64decode(key)
            for party, key in ctx.store.signing_keys(list(contract.parties)).items()
        }
        contract = countersign(contract, ctx.keys.operator_key, keys)
        contract = advance(contract, Move.COUNTERSIGN, OPERATOR, ctx.clock())
        move, actor = Move.COUNTERSIGN, OPERATOR
    _store(ctx, contract, actor, move)
    if contract.state is Stage.REVOKED:
        ctx.contract_revoked(contract.contract_id)
    return contract


def _attach_signature(
    ctx: CoordinatorContext, contract: Contract, actor: str, signature: PartySignature | None
) -> Contract:
    if signature is None or signature.party != actor:
        raise InvalidRequestError(
            "signing needs the party's own signature over the terms", code="missing_signature"
        )
    key = ctx.store.signing_keys([actor]).get(actor)
    if key is None:
        raise PermissionDeniedError(f"{actor} registered no signing key", code="no_signing_key")
    others = tuple(s for s in contract.signatures if s.party != actor)
    signed = contract.model_copy(update={"signatures": (*others, signature)})
    verify_signature(signed, actor, base64.b64decode(key))
    ctx.audit.record(actor, Event.CONTRACT_SIGNED, {"contract": contract.contract_id, "participant": actor},
                     {"key_id": signature.key_id})  # fmt: skip
    return signed


def act_json(ctx: CoordinatorContext, contract_id: str, actor: str, move: Move, proof_json: str) -> Contract:
    """A node's move, with its signature over the terms or its signed statement as JSON (or nothing)."""
    if not proof_json:
        return act(ctx, contract_id, actor, move)
    if move in ENDING_MOVES:
        return act(ctx, contract_id, actor, move, statement=SignedStatement.model_validate_json(proof_json))
    return act(ctx, contract_id, actor, move, PartySignature.model_validate_json(proof_json))


def _check_statement(
    ctx: CoordinatorContext, contract: Contract, actor: str, move: Move, statement: SignedStatement | None
) -> SignedStatement:
    if actor == contract.operator:
        return sign_statement(
            contract, StatementAction(move.value), actor, ctx.keys.operator_key, ctx.clock()
        )
    if statement is None or statement.statement.party != actor or statement.statement.action != move.value:
        raise InvalidRequestError(
            f"to {move} the contract needs the party's own signed statement", code="missing_statement"
        )
    key = ctx.store.signing_keys([actor]).get(actor)
    if key is None:
        raise PermissionDeniedError(f"{actor} registered no signing key", code="no_signing_key")
    verify_statement(contract, statement, ctx.keys.operator_key.public_key(), {actor: base64.b64decode(key)})
    return statement


def _store(ctx: CoordinatorContext, contract: Contract, actor: str, move: Move) -> None:
    text = contract.model_dump_json()
    ctx.store.save_contract(contract.contract_id, contract.buyer, contract.state, text, ctx.clock())
    for party in contract.parties:
        subjects = {"contract": contract.contract_id, "participant": party}
        ctx.audit.record(actor, Event.CONTRACT_TRANSITION, subjects, {"event": move, "state": contract.state})
    notify_providers(ctx, contract)


def notify_providers(ctx: CoordinatorContext, contract: Contract) -> None:
    notice = pb.CoordinatorMessage(contract=pb.ContractNotice(contract_json=contract.model_dump_json()))
    for provider in contract.provider_ids:
        ctx.sessions.send(provider, notice)


def contracts_of(ctx: CoordinatorContext, participant: str, *, operator: bool = False) -> list[Contract]:
    """The contracts ``participant`` is a party to; every contract for the operator, who countersigns all."""
    every = (Contract.model_validate_json(row.contract_text) for row in ctx.store.contracts())
    return [contract for contract in every if operator or participant in contract.parties]
