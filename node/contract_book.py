"""The node's own record of the usage contracts proposed over its offers, and what it decided.

A decision is the factory's: approved by its local rules or by a person (``dataspace-node contracts
approve``), or rejected. The next negotiation move follows from the contract's state and the decision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contracts.agreement import Contract
from contracts.exceptions import ContractsError
from contracts.negotiation import Event as Move
from contracts.negotiation import Stage
from contracts.signing import verify_statement
from contracts.statements import SignedStatement


class Decision(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"  # the factory withdraws from a FINALIZED contract


OPEN_STAGES = frozenset({Stage.REQUESTED, Stage.OFFERED, Stage.AGREED, Stage.VERIFIED})


def next_move(contract: Contract, me: str, decision: Decision) -> Move | None:
    """What this provider should do now, if anything."""
    if decision is Decision.REJECTED:
        return Move.TERMINATE if contract.state in OPEN_STAGES else None
    if decision is Decision.REVOKED:
        return Move.REVOKE if contract.state is Stage.FINALIZED else None
    if decision is not Decision.APPROVED:
        return None
    if contract.state is Stage.REQUESTED and me not in contract.negotiation.offered_by:
        return Move.OFFER
    if contract.state is Stage.AGREED and contract.signature_of(me) is None:
        return Move.SIGN
    return None


class ContractBook:
    """Each contract proposed to this node with its decision, and every valid statement seen about it.

    Statements are kept apart from the contract, which the coordinator may send again without them: what
    a node once verified stays, so a contract rewritten from REVOKED back to FINALIZED is still refused.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.statements_dir = directory / "statements"
        self.statements_dir.mkdir(exist_ok=True)

    def _path(self, contract_id: str) -> Path:
        if not contract_id.replace("_", "").isalnum():
            raise ValueError(f"not a contract id: {contract_id!r}")
        return self.directory / f"{contract_id}.json"

    def record(self, contract: Contract, default: Decision) -> Decision:
        """Keep the latest version of a contract; its decision stays as it was (or ``default`` if new)."""
        decision = self.decision(contract.contract_id) or default
        self._write(contract, decision)
        return decision

    def decision(self, contract_id: str) -> Decision | None:
        path = self._path(contract_id)
        return Decision(json.loads(path.read_text())["decision"]) if path.exists() else None

    def decide(self, contract_id: str, decision: Decision) -> Contract:
        contract = self.get(contract_id)
        if contract is None:
            raise KeyError(f"no contract {contract_id} was proposed to this node")
        self._write(contract, decision)
        return contract

    def get(self, contract_id: str) -> Contract | None:
        path = self._path(contract_id)
        if not path.exists():
            return None
        return Contract.model_validate(json.loads(path.read_text())["contract"])

    def entries(self) -> list[tuple[Contract, Decision]]:
        result = []
        for path in sorted(self.directory.glob("*.json")):
            data = json.loads(path.read_text())
            result.append((Contract.model_validate(data["contract"]), Decision(data["decision"])))
        return result

    def _write(self, contract: Contract, decision: Decision) -> None:
        path = self._path(contract.contract_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"decision": decision, "contract": contract.model_dump(mode="json")}))
        tmp.replace(path)

    # ------------------------------------------------------------------------------------ statements

    def statements(self, contract_id: str) -> tuple[SignedStatement, ...]:
        """The statements about ``contract_id`` this node verified and kept."""
        path = self._statements_path(contract_id)
        if not path.exists():
            return ()
        return tuple(SignedStatement.model_validate(item) for item in json.loads(path.read_text()))

    def ended(self, contract_id: str) -> bool:
        """Whether a party revoked or terminated the contract, by a statement this node verified."""
        return bool(self.statements(contract_id))

    def keep(self, signed: SignedStatement) -> bool:
        """Keep a statement already verified; False if it was kept before."""
        held = self.statements(signed.statement.contract_id)
        if signed in held:
            return False
        path = self._statements_path(signed.statement.contract_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([s.model_dump(mode="json") for s in (*held, signed)]))
        tmp.replace(path)
        return True

    def absorb(
        self, contract: Contract, operator_key: Ed25519PublicKey, own_keys: Mapping[str, Ed25519PublicKey]
    ) -> tuple[list[SignedStatement], list[tuple[SignedStatement, str]]]:
        """Verify the statements ``contract`` carries; keep the valid ones.

        Returns the statements newly kept, and those refused (forged, replayed from another contract, or
        by someone outside it) with the reason, for the caller to journal.
        """
        kept: list[SignedStatement] = []
        refused: list[tuple[SignedStatement, str]] = []
        for signed in contract.statements:
            try:
                verify_statement(contract, signed, operator_key, own_keys)
            except (ContractsError, ValueError) as exc:
                refused.append((signed, str(exc)))
                continue
            if self.keep(signed):
                kept.append(signed)
        return kept, refused

    def _statements_path(self, contract_id: str) -> Path:
        return self.statements_dir / self._path(contract_id).name
