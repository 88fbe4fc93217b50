"""Python SDK of the gateway for buyers and operators (used by the ``dataspace`` CLI and the demo).

Sessions speak HTTPS verified against the operator CA only (see ``coordinator.client.trust``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.agreement import Contract
from contracts.enrollment import EnrollmentToken, verify_grant
from contracts.jobspec import JobSpec
from contracts.orders import sign_order
from contracts.signing import sign_statement, sign_terms
from contracts.statements import StatementAction
from coordinator.client.trust import ca_file_for, verification_for

# Where a coordinator keeps its keys and tokens unless told otherwise (the CLI's --data-dir default).
DEFAULT_DATA_DIR = Path("dataspace-data")


class GatewayError(Exception):
    """The gateway refused a request; carries the HTTP status and the error body's code.

    A refusal with a status the gateway documents raises the subclass named for it, so callers can catch
    ``NotFoundError`` rather than compare numbers; every one is still a ``GatewayError``.
    """

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class AuthenticationError(GatewayError):
    """401: no bearer token, or one the gateway does not know."""


class PermissionDeniedError(GatewayError):
    """403: not allowed for this role, by the contract, or a signature that does not verify."""


class NotFoundError(GatewayError):
    """404: no such resource, or not one this participant may see."""


class ConflictError(GatewayError):
    """409: not possible in the current state (an illegal contract move, a result not yet there)."""


class GoneError(GatewayError):
    """410: expired."""


class InvalidRequestError(GatewayError):
    """400 or 422: the request does not match the schema or the domain rules; ``details`` name the field."""


_ERROR_OF_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: InvalidRequestError,
}


def gateway_error(status: int, code: str, message: str, details: Any = None) -> GatewayError:
    """The ``GatewayError`` subclass for ``status`` (the base class for a status without one)."""
    return _ERROR_OF_STATUS.get(status, GatewayError)(status, code, message, details)


class GatewayClient:
    """A session with the gateway. A buyer's session holds the buyer's Ed25519 key, which never leaves it.

    ``https://`` URLs are verified against ``ca_pem``, the operator CA, and nothing else; ``http://`` is
    refused (``InsecureUrlError``) unless ``insecure_http`` is set. ``transport`` replaces the network.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        ca_pem: bytes | None = None,
        insecure_http: bool = False,
        timeout: float = 30.0,
        participant_id: str | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.token, self.ca_pem = token, ca_pem
        verify = verification_for(url, ca_pem, insecure_http=insecure_http)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, verify=verify, transport=transport
        )
        self.participant_id, self.signing_key = participant_id, signing_key
        self.contract_id: str | None = None  # jobs submitted without one run under this contract

    @classmethod
    def connect(
        cls,
        url: str,
        token: str | None = None,
        *,
        ca: Path | bytes | None = None,
        data_dir: Path = DEFAULT_DATA_DIR,
        insecure_http: bool = False,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> GatewayClient:
        """A session that trusts the operator CA the CLI trusts.

        That is ``ca`` (a file, or PEM bytes), else ``ca.crt`` of the operator's ``data_dir``, else
        ``dataspace-ca.crt`` saved by ``dataspace enroll``. Raises ``OSError`` when the CA file cannot be
        read and ``GatewayTrustError`` as ``__init__`` does.
        """
        if isinstance(ca, bytes):
            ca_pem: bytes | None = ca
        else:
            ca_file = ca_file_for(url, ca, data_dir)
            ca_pem = ca_file.read_bytes() if ca_file is not None else None
        return cls(
            url, token, ca_pem=ca_pem, insecure_http=insecure_http, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": response.text}
            raise gateway_error(response.status_code, error["code"], error["message"], error.get("details"))
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/healthz")
        return result

    def create_enrollment_token(self, participant_id: str, role: str, ttl_seconds: int = 86400) -> str:
        body = {"participant_id": participant_id, "role": role, "ttl_seconds": ttl_seconds}
        return str(self._call("POST", "/api/v1/enrollment-tokens", json=body)["token"])

    def revoke_certificate(
        self, participant_id: str, reason: str = "revoked by the operator"
    ) -> dict[str, Any]:
        path = f"/api/v1/participants/{participant_id}/certificate/revoke"
        result: dict[str, Any] = self._call("POST", path, json={"reason": reason})
        return result

    def enroll_buyer(
        self,
        token: str,
        signing_public_key: Ed25519PublicKey | None = None,
        *,
        now: datetime | None = None,
    ) -> str:
        """Redeem a buyer's enrollment token for an API token, registering its contract-signing key.

        The reply must be the operator's signed grant for this token and this key, its CA the one the
        token pins: else ``EnrollmentReplyError`` (and ``MalformedTokenError`` for a token that is none).
        """
        parsed = EnrollmentToken.parse(token)
        body: dict[str, Any] = {"token": token}
        if signing_public_key is not None:
            body["signing_public_key"] = base64.b64encode(signing_public_key.public_bytes_raw()).decode()
        reply = self._call("POST", "/api/v1/enroll", json=body)
        when = now or datetime.now(UTC)
        verify_grant(reply, parsed, now=when, signing_public_key=signing_public_key)
        return str(reply["api_token"])

    # -- offers and contracts -----------------------------------------------------------------
    def offers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/api/v1/offers")
        return result

    def propose_contract(self, offer_ids: list[str], purpose: str, region: str = "CN") -> dict[str, Any]:
        body = {"offer_ids": offer_ids, "purpose": purpose, "region": region}
        result: dict[str, Any] = self._call("POST", "/api/v1/contracts", json=body)
        return result

    def contract(self, contract_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/api/v1/contracts/{contract_id}")
        return result

    def contract_usage(self, contract_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/api/v1/contracts/{contract_id}/usage")
        return result

    def contract_move(self, contract_id: str, move: str) -> dict[str, Any]:
        """agree, terminate or revoke; a session holding a key signs its revocation or termination here."""
        body: dict[str, Any] | None = None
        if move in {a.value for a in StatementAction} and self.signing_key and self.participant_id:
            try:
                contract = Contract.model_validate(self.contract(contract_id))
            except GatewayError:
                contract = None  # not ours to read: send the move unsigned and let the gateway refuse it
            if contract is not None:
                action, now = StatementAction(move), datetime.now(UTC)
                statement = sign_statement(contract, action, self.participant_id, self.signing_key, now)
                body = statement.model_dump(mode="json")
        result: dict[str, Any] = self._call("POST", f"/api/v1/contracts/{contract_id}/{move}", json=body)
        return result

    def sign_contract(self, contract_id: str) -> dict[str, Any]:
        """Sign the contract's terms here, with the buyer's key, and send only the signature."""
        if self.signing_key is None or self.participant_id is None:
            raise ValueError("this session holds no signing key")
        contract = Contract.model_validate(self.contract(contract_id))
        signature = sign_terms(contract, self.participant_id, self.signing_key).signature_of(
            self.participant_id
        )
        assert signature is not None
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/contracts/{contract_id}/signature", json=signature.model_dump(mode="json")
        )
        return result

    def wait_contract(self, contract_id: str, states: set[str], *, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (contract := self.contract(contract_id))["negotiation"]["stage"] not in states:
            if time.monotonic() > deadline:
                raise TimeoutError(f"contract {contract_id} still {contract['negotiation']['stage']}")
            time.sleep(0.2)
        return contract

    def nodes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/api/v1/nodes")
        return result

    def datasets(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/api/v1/datasets")
        return result

    def diagnostic(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Secure or plaintext sum of synthetic vectors across the connected nodes (operator)."""
        result: dict[str, Any] = self._call("POST", "/api/v1/diagnostics/secure-sum", json=spec)
        return result

    def audit_entries(self, *, subject: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """All audit entries matching the filters, fetched page by page."""
        items: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"offset": len(items), "limit": 1000}
            params |= {k: v for k, v in (("subject", subject), ("kind", kind)) if v is not None}
            page = self._call("GET", "/api/v1/audit/entries", params=params)["entries"]
            items.extend(page)
            if len(page) < 1000:
                return items

    def audit_checkpoint(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/v1/audit/checkpoint")
        return result

    def audit_checkpoints(self) -> list[str]:
        return list(self._call("GET", "/api/v1/audit/checkpoints")["notes"])

    def catalog(self, **query: Any) -> dict[str, Any]:
        """One page of the catalogue: ``{"total", "limit", "offset", "offers"}`` (see GET /api/v1/catalog)."""
        params = {key: value for key, value in query.items() if value not in (None, [], "")}
        result: dict[str, Any] = self._call("GET", "/api/v1/catalog", params=params)
        return result

    def create_demand(self, demand: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/api/v1/demands", json=demand)
        return result

    def demands(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/api/v1/demands")
        return result

    def demand_matches(self, demand_id: str, limit: int = 10) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", f"/api/v1/demands/{demand_id}/matches", params={"limit": limit}
        )
        return result

    def propose_cohort(self, demand_id: str, rank: int = 1) -> dict[str, Any]:
        """Propose a contract over the ``rank``-th cohort matching proposes for the demand."""
        demand = self._call("GET", f"/api/v1/demands/{demand_id}")["demand"]
        cohorts = self.demand_matches(demand_id, limit=rank)
        if len(cohorts) < rank:
            raise gateway_error(
                404, "no_such_cohort", f"matching proposes {len(cohorts)} cohort(s) for {demand_id}"
            )
        return self.propose_contract(cohorts[rank - 1]["offer_ids"], demand["purpose"], demand["region"])

    def contracts(self) -> list[dict[str, Any]]:
        """The caller's contracts (every contract for the operator)."""
        result: list[dict[str, Any]] = self._call("GET", "/api/v1/contracts")
        return result

    def jobs(self) -> list[dict[str, Any]]:
        """The caller's jobs (every job for the operator)."""
        result: list[dict[str, Any]] = self._call("GET", "/api/v1/jobs")
        return result

    def me(self) -> dict[str, Any]:
        """The participant id and role the token speaks for."""
        result: dict[str, Any] = self._call("GET", "/api/v1/me")
        return result

    def upload_input(self, data: bytes) -> dict[str, Any]:
        """Store an encrypted job input; the answer's ``digest`` is what a job names as ``input_digest``."""
        headers = {"content-type": "application/octet-stream"}
        result: dict[str, Any] = self._call("PUT", "/api/v1/jobs/inputs", content=data, headers=headers)
        return result

    def submit_job(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Submit a job; a session holding the buyer's key signs the order (``contracts.orders``) here."""
        body = {"contract_id": self.contract_id, **spec} if self.contract_id else dict(spec)
        if "order" not in body and (order := self._order(body)) is not None:
            body["order"] = order
        result: dict[str, Any] = self._call("POST", "/api/v1/jobs", json=body)
        return result

    def _order(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if (
            self.signing_key is None
            or self.participant_id is None
            or not isinstance(body.get("contract_id"), str)
        ):
            return None
        try:
            spec = JobSpec.model_validate(
                {k: v for k, v in body.items() if k not in ("contract_id", "purpose")}
            )
        except ValueError:
            return None  # the gateway says what is wrong with the spec
        signed = sign_order(
            self.participant_id, self.signing_key, body["contract_id"], spec, datetime.now(UTC)
        )
        return signed.model_dump(mode="json")

    def negotiate(self, offer_ids: list[str], purpose: str, region: str = "CN", timeout: float = 60.0) -> str:
        """Propose, agree when all providers offered, sign when they signed; return the FINALIZED contract id.

        Providers whose local rules do not approve this buyer wait for a person: then the wait times out.
        """
        contract_id = str(self.propose_contract(offer_ids, purpose, region)["contract_id"])
        self.wait_contract(contract_id, {"OFFERED"}, timeout=timeout)
        self.contract_move(contract_id, "agree")
        providers = {part["provider"] for part in self.contract(contract_id)["providers"]}
        deadline = time.monotonic() + timeout
        while not providers <= {s["party"] for s in self.contract(contract_id)["signatures"]}:
            if time.monotonic() > deadline:
                raise TimeoutError(f"providers of {contract_id} did not sign in time")
            time.sleep(0.2)
        self.sign_contract(contract_id)
        self.wait_contract(contract_id, {"FINALIZED"}, timeout=timeout)
        return contract_id

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/api/v1/jobs/{job_id}")
        return result

    def pending_exchange(self, job_id: str) -> dict[str, bytes]:
        """The factories' protocol messages waiting for this buyer's answer in a running job, by factory."""
        items = self._call("GET", f"/api/v1/jobs/{job_id}/exchange")["items"]
        return {item["factory"]: base64.b64decode(item["data"]) for item in items}

    def answer_exchange(self, job_id: str, answers: dict[str, bytes]) -> int:
        items = [{"factory": f, "data": base64.b64encode(data).decode()} for f, data in answers.items()]
        return int(self._call("POST", f"/api/v1/jobs/{job_id}/exchange", json={"items": items})["accepted"])

    def result(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/api/v1/jobs/{job_id}/result")
        return result

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = 300.0,
        poll: float = 0.2,
        progress: Callable[[dict[str, Any], float], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job reaches a terminal state; return its final status.

        ``progress`` is called with each status read and the seconds waited so far.
        """
        started = time.monotonic()
        while True:
            job = self.job(job_id)
            waited = time.monotonic() - started
            if progress is not None:
                progress(job, waited)
            if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return job
            if waited > timeout:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout:.0f} s")
            time.sleep(poll)

    def wait_for_nodes(self, count: int, *, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(nodes := self.nodes()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(nodes)} of {count} nodes connected after {timeout:.0f} s")
            time.sleep(0.2)
        return nodes
