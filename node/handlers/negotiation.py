"""Contract negotiation: record proposals, approve by local rule or leave them to a person, then move.

A person's decisions from the command line are picked up by a periodic watch while the node is connected.
"""

from __future__ import annotations

import asyncio
import logging

from contracts.agreement import Contract
from contracts.negotiation import Event as Move
from contracts.signing import sign_statement, sign_terms
from contracts.statements import SignedStatement, StatementAction
from node.contract_book import Decision, next_move
from node.handlers import Outbox
from node.job_runner import NodeContext, note_statements
from proto.dataspace.v1 import node_service_pb2 as pb

log = logging.getLogger(__name__)


class NegotiationHandler:
    """The moves this node has sent, so each is sent once per contract state."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.moves_sent: set[tuple[str, str, Move]] = set()

    async def handle(self, envelope: pb.CoordinatorMessage, outbox: Outbox) -> None:
        try:
            self._on_contract(Contract.model_validate_json(envelope.contract.contract_json), outbox)
        except Exception as error:  # one bad notice must not end the connection
            log.exception("contract notice not handled")
            self.ctx.journal.record(
                self.ctx.clock(), "contract_error", error=type(error).__name__, reason=str(error)
            )

    async def watch_decisions(self, outbox: Outbox) -> None:
        """A person approves or rejects from the command line; act on it while connected."""
        last_error: str | None = None
        while True:
            await asyncio.sleep(1.0)
            try:
                for contract, decision in self.ctx.contracts.entries():
                    self._move(contract, decision, outbox)
            except Exception as error:  # e.g. a contract file broken by hand: keep watching
                if str(error) != last_error:  # once per fault, not every second
                    log.exception("contract decisions not read")
                    self.ctx.journal.record(
                        self.ctx.clock(), "contract_error", error=type(error).__name__, reason=str(error)
                    )
                last_error = str(error)
            else:
                last_error = None

    def _on_contract(self, contract: Contract, outbox: Outbox) -> None:
        """Record a proposal or update; approve by local rule or leave it for a person; then move."""
        me = self.ctx.identity.participant_id
        if me not in contract.provider_ids:
            return
        default = (
            Decision.APPROVED if self.ctx.config.contracts.approves(contract.buyer) else Decision.PENDING
        )
        known = self.ctx.contracts.decision(contract.contract_id) is not None
        note_statements(self.ctx, contract)
        decision = self.ctx.contracts.record(contract, default)
        if not known:
            proposed = {"buyer": contract.buyer, "purpose": contract.purpose, "decision": decision}
            self.ctx.journal.record(
                self.ctx.clock(), "contract_proposed", contract_id=contract.contract_id, **proposed
            )
        self._move(contract, decision, outbox)

    def _move(self, contract: Contract, decision: Decision, outbox: Outbox) -> None:
        me = self.ctx.identity.participant_id
        move = next_move(contract, me, decision)
        if move is None or (contract.contract_id, contract.state, move) in self.moves_sent:
            return
        self.moves_sent.add((contract.contract_id, contract.state, move))
        signature = ""
        if move is Move.SIGN:
            signed = sign_terms(contract, me, self.ctx.identity.signing_key).signature_of(me)
            signature = signed.model_dump_json() if signed else ""
        elif move in (Move.REVOKE, Move.TERMINATE):  # our own statement, kept before it is sent
            signature = self._own_statement(contract, StatementAction(move.value)).model_dump_json()
        action = pb.ContractAction(
            contract_id=contract.contract_id, event=move.value, signature_json=signature
        )
        outbox.put_nowait(pb.NodeMessage(contract_action=action))
        self.ctx.journal.record(self.ctx.clock(), f"contract_{move.value}", contract_id=contract.contract_id)

    def _own_statement(self, contract: Contract, action: StatementAction) -> SignedStatement:
        me = self.ctx.identity.participant_id
        for held in self.ctx.contracts.statements(contract.contract_id):
            if held.statement.party == me and held.statement.action is action:
                return held
        signed = sign_statement(contract, action, me, self.ctx.identity.signing_key, self.ctx.clock())
        self.ctx.contracts.keep(signed)
        return signed
