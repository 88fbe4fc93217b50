"""A node's context built in-process, for tests of the job handler and of the start-up data check."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.identity import make_participant_id
from contracts.jobspec import JobKind
from node.budget import BudgetLedger
from node.config import AcceptRule, DatasetConfig, NodeConfig
from node.contract_book import ContractBook
from node.identity import NodeIdentity
from node.job_runner import NodeContext
from node.journal import Journal, NonceLedger
from node.witness import Witness
from protocols.tlog.note import NoteSigner
from tests.merkle_reference import registry

ME = make_participant_id("91320500MA1X2Y3L4")
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# The coordinator's ticket key, as the node pinned it at enrollment.
TICKET_KEY = Ed25519PrivateKey.generate()

# Signing keys of the participants the tickets here name, each registered in a log the node witnessed.
PEERS = (ME, "other_1", "other_2")
SIGNING_KEYS = {pid: Ed25519PrivateKey.generate() for pid in PEERS}
LOG_SIZE, LOG_ROOT, PEER_KEYS = registry(
    {p: k.public_key().public_bytes_raw() for p, k in SIGNING_KEYS.items()}
)

ContextFactory = Callable[[Sequence[DatasetConfig]], NodeContext]


@pytest.fixture
def make_context(tmp_path: Path) -> ContextFactory:
    def make(datasets: Sequence[DatasetConfig] = ()) -> NodeContext:
        log = NoteSigner("log.example", secrets.token_bytes(32)).verifier()
        identity = NodeIdentity(
            participant_id=ME, key_pem=b"", cert_pem=b"", ca_pem=b"", grpc_target="localhost:1",
            ticket_public_key=TICKET_KEY.public_key(), log_key=log.key_string(),
            signing_key=SIGNING_KEYS[ME], operator_key=Ed25519PrivateKey.generate().public_key(),
        )  # fmt: skip
        (tmp_path / "identity").mkdir(exist_ok=True)
        config = NodeConfig(
            node_name="n", participant_id=ME, datasets=list(datasets),
            accept=[AcceptRule(buyer="*", kinds=list(JobKind))],
        )  # fmt: skip
        witness = Witness(tmp_path / "identity", ME, log)
        witness.roots[LOG_SIZE] = LOG_ROOT
        return NodeContext(
            config=config,
            identity=identity,
            journal=Journal(tmp_path / "journal.jsonl"),
            nonces=NonceLedger(tmp_path / "identity" / "nonces.txt"),
            clock=lambda: NOW,
            witness=witness,
            contracts=ContractBook(tmp_path / "contracts"),
            ledger=BudgetLedger(tmp_path / "identity" / "budget.jsonl"),
        )

    return make
