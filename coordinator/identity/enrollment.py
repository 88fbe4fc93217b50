"""Enrollment of participants: one-time tokens exchanged for a certificate (factories) or an API token.

The reply is an operator-signed grant of everything the participant pins (see ``contracts.enrollment``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from contracts.enrollment import (
    EnrollmentGrant,
    EnrollmentToken,
    MalformedTokenError,
    hash_secret,
    public_key_digest,
    sign_grant,
)
from contracts.identity import InvalidParticipantIdError, Role, validate_participant_id
from contracts.peer_keys import registration_payload
from contracts.signatures import key_id
from coordinator.audit.refusals import safe_subjects
from coordinator.audit.trail import OPERATOR, AuditTrail, Event
from coordinator.exceptions import ConflictError, CoordinatorError, InvalidRequestError
from coordinator.identity import pki
from coordinator.identity.keys import CoordinatorKeys
from coordinator.store.database import Store
from coordinator.store.tables import ApiToken, EnrollmentTokenRow, Participant

DEFAULT_TOKEN_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class EnrollmentResult:
    participant_id: str
    role: Role
    certificate_pem: str | None
    api_token: str | None
    token_id: str = ""
    csr_key_sha256: str | None = None  # SHA-256 of the CSR's SubjectPublicKeyInfo: the key certified
    signing_public_key: str | None = None  # the contract-signing key registered, base64


def issue_token(
    store: Store,
    ca: pki.OperatorCA,
    audit: AuditTrail,
    *,
    participant_id: str,
    role: Role,
    now: datetime,
    ttl: timedelta = DEFAULT_TOKEN_TTL,
) -> tuple[EnrollmentToken, datetime]:
    if role is Role.OPERATOR:
        raise InvalidRequestError("operators are not enrolled with tokens", code="invalid_role")
    try:
        participant_id = validate_participant_id(participant_id)
    except InvalidParticipantIdError as exc:
        raise InvalidRequestError(str(exc), code="invalid_participant_id") from exc
    token = EnrollmentToken.new(ca.fingerprint)
    expires_at = now + ttl
    store.add_enrollment_token(
        EnrollmentTokenRow(
            token_id=token.token_id,
            secret_hash=token.secret_hash(),
            participant_id=participant_id,
            role=role,
            created_at=now,
            expires_at=expires_at,
        )
    )
    issued = {"role": role, "token": token.token_id, "expires_at": expires_at.isoformat()}
    audit.record(OPERATOR, Event.TOKEN_ISSUED, {"participant": participant_id}, issued)
    return token, expires_at


def enroll(
    store: Store,
    ca: pki.OperatorCA,
    audit: AuditTrail,
    *,
    token_text: str,
    csr_pem: str | None,
    now: datetime,
    signing_key: str | None = None,
) -> EnrollmentResult:
    """Redeem a token exactly once; a factory gets a client certificate, a buyer an API token.

    A refusal (malformed, unknown, used or expired token, bad CSR) is itself an audit entry.
    """
    try:
        if signing_key is not None:
            _check_signing_key(signing_key)
        result = _enroll(store, ca, audit, token_text=token_text, csr_pem=csr_pem, now=now)
    except CoordinatorError as error:
        token_id = token_text.split(".", 1)[0][:32]  # only a well-formed id becomes a log subject
        details = {"code": error.code, "reason": error.message}
        audit.record("anonymous", Event.ENROLLMENT_REFUSED, safe_subjects(token=token_id), details)
        raise
    if signing_key is not None:
        store.set_signing_key(result.participant_id, signing_key, now)
        raw_key = base64.b64decode(signing_key)
        # The whole key, not its id: peers accept it only as this entry, proven in a checkpoint they cosigned.
        registered = {"key_id": key_id(raw_key), **registration_payload(raw_key)}
        subjects = {"participant": result.participant_id}
        audit.record(result.participant_id, Event.SIGNING_KEY_REGISTERED, subjects, registered)
    return dataclasses.replace(result, signing_public_key=signing_key)


def signed_grant(
    result: EnrollmentResult, keys: CoordinatorKeys, grpc_target: str
) -> tuple[EnrollmentGrant, str]:
    """What the participant pins, bound to its token and CSR key, and the operator's signature of it."""
    grant = EnrollmentGrant(
        participant_id=result.participant_id,
        role=str(result.role),
        token_id=result.token_id,
        csr_key_sha256=result.csr_key_sha256,
        signing_public_key=result.signing_public_key,
        certificate_pem=result.certificate_pem,
        ca_certificate_pem=keys.ca.cert_pem.decode(),
        operator_certificate_pem=keys.operator_cert_pem.decode(),
        grpc_target=grpc_target,
        ticket_public_key=base64.b64encode(keys.ticket_public_key_raw).decode(),
        log_key=keys.log_signer.verifier().key_string(),
        operator_key=base64.b64encode(keys.operator_key.public_key().public_bytes_raw()).decode(),
    )
    return grant, sign_grant(grant, keys.operator_key)


def _enroll(
    store: Store,
    ca: pki.OperatorCA,
    audit: AuditTrail,
    *,
    token_text: str,
    csr_pem: str | None,
    now: datetime,
) -> EnrollmentResult:
    try:
        token = EnrollmentToken.parse(token_text)
    except MalformedTokenError as exc:
        raise InvalidRequestError(str(exc), code="malformed_token") from exc
    role_of_token = _peek_role(store, token)
    if role_of_token is Role.FACTORY and not csr_pem:
        raise InvalidRequestError(
            "a factory enrollment needs a certificate signing request", code="csr_required"
        )
    csr_bytes = csr_pem.encode() if csr_pem else None
    csr_key_sha256 = public_key_digest(_check_csr(csr_bytes).public_key()) if csr_bytes else None
    row = store.redeem_enrollment_token(token.token_id, token.secret_hash(), now)
    role = Role(row.role)
    participant = Participant(participant_id=row.participant_id, role=role, enrolled_at=now)
    certificate_pem = api_token = None
    if csr_bytes is not None:
        cert = pki.sign_participant_csr(ca, csr_bytes, participant_id=row.participant_id, role=role, now=now)
        certificate_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        participant.certificate_serial = format(cert.serial_number, "x")
        participant.certificate_not_after = cert.not_valid_after_utc
    if role is Role.BUYER:
        api_token = "bt_" + secrets.token_urlsafe(32)
        store.add_api_token(
            ApiToken(
                token_hash=hash_secret(api_token),
                participant_id=row.participant_id,
                role=role,
                created_at=now,
            )
        )
    previous = store.participant(row.participant_id)
    store.upsert_participant(participant)
    subjects = {"participant": row.participant_id}
    if previous is not None and previous.certificate_serial not in (None, participant.certificate_serial):
        superseded = {"serial": previous.certificate_serial, "reason": "superseded by a new enrollment"}
        audit.record(OPERATOR, Event.CERTIFICATE_REVOKED, subjects, superseded)
    audit.record(
        row.participant_id, Event.PARTICIPANT_ENROLLED, subjects, {"role": role, "token": token.token_id}
    )
    if participant.certificate_serial is not None and participant.certificate_not_after is not None:
        issued = {
            "serial": participant.certificate_serial,
            "not_after": participant.certificate_not_after.isoformat(),
        }
        audit.record(OPERATOR, Event.CERTIFICATE_ISSUED, subjects, issued)
    return EnrollmentResult(
        row.participant_id, role, certificate_pem, api_token, token.token_id, csr_key_sha256
    )


def _peek_role(store: Store, token: EnrollmentToken) -> Role | None:
    row = store.enrollment_token(token.token_id)
    return Role(row.role) if row is not None else None


def _check_csr(csr_bytes: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(csr_bytes)
        csr.public_key()  # a key type the CA cannot certify is refused here, not when it signs
    except ValueError as exc:
        raise InvalidRequestError(
            f"certificate signing request is not valid PEM: {exc}", code="bad_csr"
        ) from exc
    if not csr.is_signature_valid:
        raise InvalidRequestError("certificate signing request signature does not verify", code="bad_csr")
    return csr


def revoke_certificate(store: Store, audit: AuditTrail, participant_id: str, reason: str) -> str:
    """Revoke a participant's certificate: its node is refused from the next connection on."""
    serial = store.revoke_certificate(participant_id)
    if serial is None:
        raise ConflictError(f"{participant_id} holds no certificate", code="no_certificate")
    audit.record(OPERATOR, Event.CERTIFICATE_REVOKED, {"participant": participant_id},
                 {"serial": serial, "reason": reason})  # fmt: skip
    return serial


def _check_signing_key(text: str) -> None:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise InvalidRequestError("signing key is not base64", code="bad_signing_key") from exc
    if len(raw) != 32:
        raise InvalidRequestError(
            "signing key must be a raw 32-byte Ed25519 public key", code="bad_signing_key"
        )
