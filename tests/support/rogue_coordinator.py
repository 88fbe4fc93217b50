"""A deliberately dishonest coordinator: the real one, with one deviation from the protocol, for tests only.

Run as ``python -m tests.support.rogue_coordinator <arguments of the coordinator CLI>`` with
``DATASPACE_TEST_ROGUE`` naming a behaviour, or ``DATASPACE_TEST_ROGUE_FILE`` naming a file that holds it
(read at every use, so a test changes the behaviour without restarting the process). Production processes
never import this module: every deviation is a subclass of the run channel, or a check replaced, installed
before the CLI starts. The nodes must notice each deviation on their own and refuse.
"""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.agreement import Contract
from contracts.canonical import canonical
from contracts.peer_keys import REGISTRATION_KIND, PeerKey, registration_payload
from contracts.signing import sign_statement
from contracts.statements import StatementAction
from contracts.tickets import JobTicket, sign_ticket
from coordinator.server import diagnostics, job_run, serde
from coordinator.server.job_run import JobRun
from coordinator.server.run_channel import RunChannel
from coordinator.services import jobs
from protocols.secagg.messages import KeyTable, PublicKeys, UnmaskRequest

ROGUE_ENV = "DATASPACE_TEST_ROGUE"
ROGUE_FILE_ENV = "DATASPACE_TEST_ROGUE_FILE"
FAKE_PARTICIPANT = "91350100FAKEPARTY9"


class Rogue(StrEnum):
    HONEST = "honest"
    SKIP_POLICY = "skip_policy"  # queue and run jobs the contract does not allow
    IGNORE_REVOCATION = "ignore_revocation"  # keep running jobs under revoked contracts
    FORGE_TICKET = "forge_ticket"  # sign tickets with a key the nodes do not know
    REPLAY_TICKET = "replay_ticket"  # reuse one nonce for every ticket
    EXPIRED_TICKET = "expired_ticket"  # send tickets that expired an hour ago
    STRIP_SIGNATURES = "strip_signatures"  # drop the factories' signatures from the contract in the ticket
    SWAP_BUYER_SIGNATURE = "swap_buyer_signature"  # other bytes where the buyer's signature was
    LOW_THRESHOLD = "low_threshold"  # a threshold of 2, whatever the number of participants
    FAKE_PARTICIPANT = "fake_participant"  # a participant of its own, with a key the log never registered
    SUBSTITUTE_KEY = "substitute_key"  # show every peer of the victim keys the coordinator made itself
    SPLIT_SURVIVORS = "split_survivors"  # tell half the survivors that the victim dropped out
    FORGE_REVOCATION = "forge_revocation"  # a revocation "by the buyer" signed with some other key
    REPLAY_REVOCATION = "replay_revocation"  # a real revocation of another contract, put into this one


def behaviour() -> Rogue:
    """The deviation in force now: the control file's, else the environment's, else none."""
    control = os.environ.get(ROGUE_FILE_ENV)
    if control and (path := Path(control)).exists():
        return Rogue(path.read_text(encoding="utf-8").strip())
    return Rogue(os.environ.get(ROGUE_ENV, Rogue.HONEST))


class RogueChannel(RunChannel):
    """The run channel with the configured deviation; the victim is the first participant."""

    def sign(self, ticket: JobTicket) -> tuple[bytes, bytes]:
        ticket = self._tampered(ticket)
        key = self.ctx.keys.ticket_key
        if behaviour() is Rogue.FORGE_TICKET:
            key = Ed25519PrivateKey.generate()
        return sign_ticket(ticket, key)

    def relay(self, pid: str, message: serde.ServerMessage) -> None:
        victim = self.registrations and min(self.registrations)
        now = behaviour()
        if now is Rogue.SUBSTITUTE_KEY and isinstance(message, KeyTable) and pid != victim:
            original = message.keys[victim]
            forged = PublicKeys(
                _x25519_public(), _x25519_public(), original.seed_commitment, original.signature
            )
            message = KeyTable({**message.keys, victim: forged})
        if now is Rogue.SPLIT_SURVIVORS and isinstance(message, UnmaskRequest):
            others = [u for u in message.survivors if u != victim]
            if pid in others[len(others) // 2 :]:  # the later half is told the victim dropped out
                survivors = tuple(u for u in message.survivors if u != victim)
                message = UnmaskRequest(survivors, (*message.dropped, victim), message.signatures)
        super().relay(pid, message)

    def _tampered(self, ticket: JobTicket) -> JobTicket:
        contract = ticket.contract
        match behaviour():
            case Rogue.REPLAY_TICKET:
                return ticket.model_copy(update={"nonce": "replayed-nonce"})
            case Rogue.EXPIRED_TICKET:
                past = ticket.issued_at - timedelta(hours=1)
                return ticket.model_copy(
                    update={"issued_at": past, "expires_at": past + timedelta(minutes=10)}
                )
            case Rogue.STRIP_SIGNATURES if contract is not None:
                providers = {part["provider"] for part in contract["providers"]}
                kept = [s for s in contract["signatures"] if s["party"] not in providers]
                return ticket.model_copy(update={"contract": {**contract, "signatures": kept}})
            case Rogue.SWAP_BUYER_SIGNATURE if contract is not None:
                buyer, forged = contract["buyer"], base64.b64encode(bytes(64)).decode()
                swapped = [
                    {**s, "signature": forged} if s["party"] == buyer else s for s in contract["signatures"]
                ]
                return ticket.model_copy(update={"contract": {**contract, "signatures": swapped}})
            case Rogue.LOW_THRESHOLD:
                return ticket.model_copy(update={"threshold": 2})
            case Rogue.FAKE_PARTICIPANT:
                return _with_fake_participant(ticket)
            case Rogue.FORGE_REVOCATION if contract is not None:
                terms = Contract.model_validate(contract)
                stranger = Ed25519PrivateKey.generate()
                now = self.ctx.clock()
                forged = sign_statement(terms, StatementAction.REVOKE, terms.buyer, stranger, now)
                return _with_statements(ticket, [forged.model_dump(mode="json")])
            case Rogue.REPLAY_REVOCATION if contract is not None:
                return _with_statements(ticket, self._statements_of_other_contracts(contract["contract_id"]))
        return ticket

    def _statements_of_other_contracts(self, contract_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for row in self.ctx.store.contracts():
            if row.contract_id != contract_id:
                other = Contract.model_validate_json(row.contract_text)
                found.extend(s.model_dump(mode="json") for s in other.statements)
        return found


def _with_statements(ticket: JobTicket, statements: list[dict[str, Any]]) -> JobTicket:
    contract = dict(ticket.contract or {})
    contract["statements"] = [*contract.get("statements", []), *statements]
    return ticket.model_copy(update={"contract": contract})


def _with_fake_participant(ticket: JobTicket) -> JobTicket:
    """A participant the coordinator minted: its registration entry exists nowhere in the log."""
    key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    template = next(iter(ticket.peer_keys.values()))
    entry = {"index": template.index, "time": "2026-01-01T00:00:00Z", "actor": FAKE_PARTICIPANT,
             "kind": REGISTRATION_KIND, "subjects": {"participant": FAKE_PARTICIPANT},
             "payload": registration_payload(key)}  # fmt: skip
    fake = PeerKey(
        public_key=base64.b64encode(key).decode(),
        entry=base64.b64encode(canonical(entry)).decode(),
        index=template.index,
        tree_size=template.tree_size,
        proof=template.proof,
    )
    participants = (*ticket.participants, FAKE_PARTICIPANT)
    return ticket.model_copy(update={"participants": participants,
                                     "peer_keys": {**ticket.peer_keys, FAKE_PARTICIPANT: fake}})  # fmt: skip


def _x25519_public() -> bytes:
    return X25519PrivateKey.generate().public_key().public_bytes_raw()


def install() -> None:
    """Put the deviation in place: the run channel everywhere it is made, and the checks it skips."""
    job_run.RunChannel = RogueChannel  # type: ignore[misc]
    diagnostics.RunChannel = RogueChannel  # type: ignore[misc]
    enforce, check_now = jobs._enforce, JobRun._check_contract_now

    def skipping_enforce(*args: Any) -> Any:
        return None if behaviour() in _SKIPS_CHECKS else enforce(*args)

    def skipping_check_now(self: JobRun, contract: Contract) -> None:
        if behaviour() not in _SKIPS_CHECKS:
            check_now(self, contract)

    jobs._enforce = skipping_enforce  # type: ignore[assignment]
    JobRun._check_contract_now = skipping_check_now  # type: ignore[method-assign]


_SKIPS_CHECKS = (Rogue.SKIP_POLICY, Rogue.IGNORE_REVOCATION)


if __name__ == "__main__":
    install()
    from coordinator.client.cli import main

    main()
