"""Offers (published by factories' nodes) and multi-party usage contracts negotiated over them."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from contracts.canonical import SafeId
from contracts.identity import Role
from contracts.negotiation import Event as Move
from contracts.offers import DatasetOffer, Region
from contracts.schema import IDENTIFIER_PATTERN
from contracts.signatures import PartySignature
from contracts.statements import SignedStatement
from coordinator.api.deps import BuyerDep, ContextDep, IdPath, PrincipalDep
from coordinator.services import contracting
from protocols.dp.accounting import epsilon_for

router = APIRouter(prefix="/api/v1", tags=["contracts"])


MAX_OFFERS = 100


class ContractProposal(BaseModel):
    offer_ids: list[SafeId] = Field(min_length=1, max_length=MAX_OFFERS)
    purpose: str = Field(pattern=IDENTIFIER_PATTERN)
    region: Region


@router.get("/offers")
def offers(context: ContextDep, _principal: PrincipalDep) -> list[dict[str, Any]]:
    """The catalogue: every offer, with its desensitized preview rows where its node made some."""
    previews = context.store.offer_previews()
    listed = []
    for row in context.store.offers():
        offer = DatasetOffer.model_validate_json(row.offer_text).model_dump(mode="json")
        preview = previews.get(row.offer_id)
        offer["preview"] = (
            None
            if preview is None
            else {"rows": json.loads(preview.rows_text), "receipt": json.loads(preview.receipt_text)}
        )
        listed.append(offer)
    return listed


@router.post("/contracts", status_code=201)
def propose(body: ContractProposal, context: ContextDep, buyer: BuyerDep) -> dict[str, Any]:
    contract = contracting.propose(context, buyer.participant_id, body.offer_ids, body.purpose, body.region)
    return contract.model_dump(mode="json")


@router.get("/contracts")
def list_contracts(context: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The caller's contracts: those it is a party to, or every contract for the operator."""
    mine = contracting.contracts_of(
        context, principal.participant_id, operator=principal.role is Role.OPERATOR
    )
    return [c.model_dump(mode="json") for c in mine]


@router.get("/contracts/{contract_id}")
def get_contract(contract_id: IdPath, context: ContextDep, principal: PrincipalDep) -> dict[str, Any]:
    contract = contracting.visible(
        context, contract_id, principal.participant_id, principal.role is Role.OPERATOR
    )
    return contract.model_dump(mode="json")


@router.get("/contracts/{contract_id}/usage")
def usage(contract_id: IdPath, context: ContextDep, principal: PrincipalDep) -> dict[str, Any]:
    """What the contract has consumed: jobs run (counted when accepted) and privacy budget spent."""
    contract = contracting.visible(
        context, contract_id, principal.participant_id, principal.role is Role.OPERATOR
    )
    row = context.store.contract(contract_id)
    delta = contract.terms.privacy.delta
    return {
        "contract_id": contract_id,
        "jobs_run": row.jobs_run,
        # zCDP composes by adding rho; epsilon is read back at the contract's delta.
        "rho_spent": row.rho_spent,
        "epsilon_spent": epsilon_for(row.rho_spent, delta),
        "delta": delta,
    }


@router.post("/contracts/{contract_id}/agree")
def agree(contract_id: IdPath, context: ContextDep, buyer: BuyerDep) -> dict[str, Any]:
    return contracting.act(context, contract_id, buyer.participant_id, Move.AGREE).model_dump(mode="json")


@router.post("/contracts/{contract_id}/signature")
def sign(
    contract_id: IdPath, signature: PartySignature, context: ContextDep, buyer: BuyerDep
) -> dict[str, Any]:
    contract = contracting.act(context, contract_id, buyer.participant_id, Move.SIGN, signature)
    return contract.model_dump(mode="json")


@router.post("/contracts/{contract_id}/terminate")
def terminate(
    contract_id: IdPath,
    context: ContextDep,
    principal: PrincipalDep,
    statement: SignedStatement | None = None,
) -> dict[str, Any]:
    """End a negotiation; a party sends its own signed statement (the operator's is signed here)."""
    contract = contracting.act(
        context, contract_id, principal.participant_id, Move.TERMINATE, statement=statement
    )
    return contract.model_dump(mode="json")


@router.post("/contracts/{contract_id}/revoke")
def revoke(
    contract_id: IdPath,
    context: ContextDep,
    principal: PrincipalDep,
    statement: SignedStatement | None = None,
) -> dict[str, Any]:
    """Withdraw from a finalized contract; a party sends its own signed statement, as for terminate."""
    contract = contracting.act(
        context, contract_id, principal.participant_id, Move.REVOKE, statement=statement
    )
    return contract.model_dump(mode="json")
