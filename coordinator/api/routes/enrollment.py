"""Enrollment: operators issue one-time tokens; participants redeem them for credentials.

A participant first fetches the CA certificate and checks it against its token's pin; the enrollment reply
is an operator-signed grant of everything it pins.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter
from pydantic import BaseModel, Field

from contracts.canonical import PRINTABLE_PATTERN, SafeId
from contracts.identity import Role
from coordinator.api.deps import ContextDep, IdPath, OperatorDep, PrincipalDep
from coordinator.exceptions import CoordinatorError, mark_audited
from coordinator.identity import enrollment

router = APIRouter(prefix="/api/v1", tags=["enrollment"])


class EnrollmentTokenCreate(BaseModel):
    participant_id: SafeId
    role: Role
    ttl_seconds: int = Field(default=86400, gt=0, le=30 * 86400)


class EnrollmentTokenPublic(BaseModel):
    token: str
    participant_id: str
    role: Role
    expires_at: datetime


class EnrollRequest(BaseModel):
    # The id before the first dot names the token in the audit log, so it must be a printable label.
    token: str = Field(max_length=200, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
    csr_pem: str | None = Field(default=None, max_length=16_384, pattern=r"^[\x20-\x7e\r\n\t]*$")
    signing_public_key: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9+/=]*$",
        description="Raw Ed25519 public key, base64",
    )


class EnrollResponse(BaseModel):
    """The signed grant's fields, the operator's signature over them, and a buyer's API token (unsigned)."""

    participant_id: str
    role: Role
    token_id: str
    csr_key_sha256: str | None = Field(description="SHA-256 of the CSR's SubjectPublicKeyInfo, hex")
    signing_public_key: str | None
    certificate_pem: str | None
    ca_certificate_pem: str
    operator_certificate_pem: str = Field(description="The operator CA's certificate of operator_key")
    grpc_target: str
    ticket_public_key: str
    log_key: str
    operator_key: str = Field(description="Raw Ed25519 key that signs this reply and countersigns contracts")
    signature: str = Field(description="Ed25519 signature by operator_key of the grant's canonical JSON")
    api_token: str | None


class CaCertificatePublic(BaseModel):
    ca_certificate_pem: str


@router.get("/ca")
def ca_certificate(context: ContextDep) -> CaCertificatePublic:
    """The operator CA certificate. Trust it only if its SHA-256 matches the pin in an enrollment token."""
    return CaCertificatePublic(ca_certificate_pem=context.keys.ca.cert_pem.decode())


@router.post("/enrollment-tokens", status_code=201)
def create_enrollment_token(
    body: EnrollmentTokenCreate, context: ContextDep, _operator: OperatorDep
) -> EnrollmentTokenPublic:
    token, expires_at = enrollment.issue_token(
        context.store,
        context.keys.ca,
        context.audit,
        participant_id=body.participant_id,
        role=body.role,
        now=context.clock(),
        ttl=timedelta(seconds=body.ttl_seconds),
    )
    return EnrollmentTokenPublic(
        token=str(token), participant_id=body.participant_id, role=body.role, expires_at=expires_at
    )


@router.post("/enroll")
def enroll(body: EnrollRequest, context: ContextDep) -> EnrollResponse:
    try:
        result = enrollment.enroll(
            context.store,
            context.keys.ca,
            context.audit,
            token_text=body.token,
            csr_pem=body.csr_pem,
            now=context.clock(),
            signing_key=body.signing_public_key,
        )
    except CoordinatorError as error:
        mark_audited(error)  # enroll logs every refusal it raises as enrollment.refused
        raise
    grant, signature = enrollment.signed_grant(result, context.keys, context.grpc_target)
    return EnrollResponse(**grant.model_dump(), signature=signature, api_token=result.api_token)


class RevocationRequest(BaseModel):
    reason: str = Field(default="revoked by the operator", max_length=200, pattern=PRINTABLE_PATTERN)


@router.post("/participants/{participant_id}/certificate/revoke")
def revoke_certificate(
    participant_id: IdPath, body: RevocationRequest, context: ContextDep, _operator: OperatorDep
) -> dict[str, str]:
    """Revoke a factory's certificate and drop its stream; it cannot reconnect until enrolled again."""
    serial = enrollment.revoke_certificate(context.store, context.audit, participant_id, body.reason)
    session = context.sessions.get(participant_id)
    if session is not None and context.loop is not None:
        context.loop.call_soon_threadsafe(session.close)
    return {"participant_id": participant_id, "revoked_serial": serial}


class Identity(BaseModel):
    participant_id: str = Field(description="The participant id (unified social credit code) of the token")
    role: Role


@router.get("/me")
def who_am_i(principal: PrincipalDep) -> Identity:
    """Whom the bearer token speaks for: clients learn their participant id here instead of asking for it."""
    return Identity(participant_id=principal.participant_id, role=principal.role)
