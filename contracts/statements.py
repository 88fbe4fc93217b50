"""Signed state changes of a contract: a party's revocation or termination, as a statement it signs itself.

A statement names the contract and the digest of its terms, so it cannot be replayed against another
contract; its payload carries its own domain-separation type. ``contracts.signing`` makes and verifies them.
"""

from __future__ import annotations

from datetime import UTC
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts.canonical import SafeId
from contracts.signatures import STATEMENT_TYPE, PartySignature, canonical


class StatementAction(StrEnum):
    REVOKE = "revoke"
    TERMINATE = "terminate"


class ContractStatement(BaseModel):
    """What a party states: that it revokes (after FINALIZED) or terminates (before) one contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contract_id: SafeId
    terms_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    action: StatementAction
    party: SafeId
    issued_at: AwareDatetime

    @field_validator("issued_at")
    @classmethod
    def _utc(cls, value: AwareDatetime) -> AwareDatetime:
        return value.astimezone(UTC)  # one spelling of each instant, so the signed bytes read back the same


class SignedStatement(BaseModel):
    """A statement, the signer's raw public key (standard base64) and its signature over the payload.

    The key travels with the statement because a node holds no key of the buyer or of other factories;
    it trusts the key only if it also verifies the party's countersigned signature over the terms.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    statement: ContractStatement
    public_key: str = Field(max_length=64, pattern=r"^[A-Za-z0-9+/=]*$")
    signature: PartySignature


def statement_payload(statement: ContractStatement) -> bytes:
    """The exact bytes a party signs for a statement."""
    return canonical({"type": STATEMENT_TYPE, **statement.model_dump(mode="json")})
