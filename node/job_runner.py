"""One node's part in one job run: check the ticket, compute locally, then play the secure-aggregation client.

The node trusts nobody blindly: before computing it verifies the coordinator's signature on the ticket,
its freshness and single-use nonce, that it is named as a participant, and its own acceptance rules.
Whatever goes wrong with the ticket or the node's own files ends as a ``JobRefused`` with a code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from contracts.agreement import Contract
from contracts.diagnostics import DIAGNOSTIC_KIND, DiagnosticSpec, synthetic_vector
from contracts.enforcement import node_check, release_rules
from contracts.exceptions import JobSpecError, SignatureError
from contracts.jobspec import PSI_KINDS, JobKind, JobSpec, VectorLayout, vector_layout
from contracts.orders import ORDERED_KINDS, OrderError, SignedOrder, verify_order
from contracts.peer_keys import PeerKeyError, verify_peer_key, verify_peer_keys
from contracts.policy import JobRequest
from contracts.privacy import gate_cells
from contracts.scoring import count_positions, monomial_sums
from contracts.signing import verify_countersignature, verify_signature
from contracts.tickets import JobTicket, TicketError, verify_ticket
from node.budget import BudgetLedger
from node.config import DatasetConfig, NodeConfig
from node.contract_book import ContractBook
from node.datafiles import DataGuard
from node.exceptions import ConfigError, DataError, JobRefused, LocalComputeError
from node.identity import NodeIdentity
from node.journal import Journal, NonceLedger
from node.local_compute import local_keys, local_vector
from node.privacy import add_noise_share, plan_and_charge
from node.psi import PsiOutgoing, PsiSumWork, PsiWork, blind, count_common, masked_point, normalized
from node.scoring import ScoringWork, encrypted_scores, open_input
from node.witness import Witness
from protocols import fixedpoint
from protocols.dp.samplers import RandomSource, system_random
from protocols.exceptions import FixedPointOverflowError
from protocols.fixedpoint import RingArray
from protocols.secagg import client
from protocols.secagg.config import SecAggConfig, SecurityMode, threshold_floor
from protocols.secagg.messages import (
    ConsistencyRequest,
    KeyTable,
    MaskedInput,
    RelayedShares,
    UnmaskRequest,
)
from protocols.secagg.pairwise import pairwise_seeds, signed_seeds

from . import serde

log = logging.getLogger(__name__)


@dataclass
class NodeContext:
    config: NodeConfig
    identity: NodeIdentity
    journal: Journal
    nonces: NonceLedger
    clock: Callable[[], datetime]
    witness: Witness
    contracts: ContractBook
    ledger: BudgetLedger
    rng: RandomSource = field(default_factory=system_random)
    data: DataGuard = field(default_factory=DataGuard)
    # Where the node keeps its secrets; unset, the folder of the nonce ledger, which lives there.
    identity_dir: Path | None = None

    @property
    def secrets_dir(self) -> Path:
        return self.identity_dir if self.identity_dir is not None else self.nonces.path.parent


@dataclass
class RunState:
    ticket: JobTicket
    secagg: client.ClientState
    encoded: RingArray = field(repr=False)
    # Encrypted scoring: the work kept for the masked-input round, and the ciphertexts it produced.
    scoring: ScoringWork | None = field(default=None, repr=False)
    scores: list[bytes] | None = field(default=None, repr=False)
    # Set intersection: what is kept until the buyer's answers, the last of which starts secure aggregation;
    # for a sum, the decrypted point, sent masked with the masked input.
    psi: PsiWork | PsiSumWork | None = field(default=None, repr=False)
    point: bytes | None = field(default=None, repr=False)
    masked_point: bytes | None = field(default=None, repr=False)


def check_ticket(ctx: NodeContext, payload: bytes, signature: bytes) -> JobTicket:
    """Signature, freshness, single-use nonce, and that this node is named; raises JobRefused."""
    try:
        ticket = verify_ticket(
            payload, signature, ctx.identity.ticket_public_key, now=ctx.clock(), nonce_unused=ctx.nonces.claim
        )
    except TicketError as exc:
        raise JobRefused(exc.code, str(exc)) from exc
    except ValueError as exc:  # e.g. a number RFC 8785 cannot write again (an integer above 2**53)
        raise JobRefused("malformed_ticket", f"job ticket cannot be canonicalised: {exc}") from exc
    if ctx.identity.participant_id not in ticket.participants:
        raise JobRefused("not_a_participant", "this node is not named in the ticket")
    return ticket


def check_peer_keys(ctx: NodeContext, ticket: JobTicket) -> dict[str, bytes]:
    """Every participant's signing key, each proven by the audit log this node witnessed (key transparency).

    A participant the coordinator cannot prove, a key that is not registered in a checkpoint this node
    cosigned, or a key for this node other than its own ends the run here, before anything is computed.
    """
    try:
        keys = verify_peer_keys(ticket.participants, ticket.peer_keys, ctx.witness.roots)
    except PeerKeyError as exc:
        raise JobRefused(
            "unproven_peer_key", f"a participant's key is not proven by the witnessed log: {exc}"
        ) from exc
    own = ctx.identity.signing_key.public_key().public_bytes_raw()
    if keys[ctx.identity.participant_id] != own:
        raise JobRefused("unproven_peer_key", "the ticket names another signing key for this node")
    return keys


def check_job(ctx: NodeContext, ticket: JobTicket) -> tuple[JobSpec, Contract]:
    """The job must be well-formed, allowed by the signed contract it names, and by local rules."""
    try:
        spec = JobSpec.model_validate(ticket.spec)
    except ValueError as exc:
        raise JobRefused("invalid_spec", f"job spec is malformed: {exc}") from exc
    if ticket.contract is None:
        raise JobRefused("no_contract", "the job names no signed usage contract")
    contract = check_contract(ctx, ticket, spec)
    if spec.kind in ORDERED_KINDS or ticket.order is not None:
        check_order(ctx, ticket, spec, contract)
    if not ctx.config.accepts(ticket.buyer, spec.kind):
        raise JobRefused("local_policy", f"local policy does not accept {spec.kind} jobs from {ticket.buyer}")
    return spec, contract


def check_order(ctx: NodeContext, ticket: JobTicket, spec: JobSpec, contract: Contract) -> None:
    """The buyer itself ordered this job, on this contract, with exactly this spec (and input digest).

    The buyer's key is the one its registration in the witnessed audit log proves, as for peers' keys.
    """
    if ticket.order is None:
        raise JobRefused("order_required", f"a {spec.kind} job runs only on the buyer's signed order")
    proof = ticket.peer_keys.get(ticket.buyer)
    if proof is None:
        raise JobRefused("unproven_buyer_key", "no proof of the buyer's signing key came with the ticket")
    try:
        key = verify_peer_key(ticket.buyer, proof, ctx.witness.roots)
        signed = SignedOrder.model_validate(ticket.order)
        verify_order(signed, buyer=ticket.buyer, key=key, contract_id=contract.contract_id,
                     job_id=ticket.job_id, spec=spec)  # fmt: skip
    except PeerKeyError as exc:
        raise JobRefused("unproven_buyer_key", f"the buyer's key is not proven by the log: {exc}") from exc
    except OrderError as exc:
        raise JobRefused(exc.code, f"the buyer's order does not hold: {exc}") from exc
    except ValueError as exc:
        raise JobRefused("order_malformed", f"the buyer's order is malformed: {exc}") from exc


def check_contract(ctx: NodeContext, ticket: JobTicket, spec: JobSpec) -> Contract:
    """The node's own enforcement: its signature and the buyer's, not revoked, not expired, within terms.

    Revoked means a party's signed statement this node verified, now or earlier: the contract state the
    coordinator writes can only refuse a job, never bring back one a party ended.
    """
    try:
        contract = Contract.model_validate(ticket.contract)
    except ValueError as exc:
        raise JobRefused("malformed_contract", f"the ticket's contract is malformed: {exc}") from exc
    if contract.buyer != ticket.buyer:
        raise JobRefused("buyer", f"the contract binds {contract.buyer}, the job is for {ticket.buyer}")
    me = ctx.identity.participant_id
    note_statements(ctx, contract)
    request = JobRequest(
        spec=spec,
        buyer=ticket.buyer,
        purpose=contract.purpose,
        region=contract.region,
        factories=len(ticket.participants),
    )
    decision = node_check(contract, me, request, ctx.clock(), ctx.contracts.ended(contract.contract_id))
    if not decision.allowed:
        first = decision.reasons[0]
        raise JobRefused(first.constraint, f"contract {contract.contract_id}: {first.message}")
    try:  # our own signature with our key; the buyer's through the operator's countersignature over it
        verify_signature(contract, me, ctx.identity.signing_key.public_key())
        verify_countersignature(contract, ctx.identity.operator_key)
    except SignatureError as exc:
        raise JobRefused("signature", f"contract {contract.contract_id}: {exc}") from exc
    except ValueError as exc:  # terms that cannot be canonicalised cannot have been signed
        raise JobRefused("malformed_contract", f"contract {contract.contract_id}: {exc}") from exc
    return contract


def note_statements(ctx: NodeContext, contract: Contract) -> None:
    """Keep the valid revocations and terminations ``contract`` carries; journal each kept or refused."""
    own = {ctx.identity.participant_id: ctx.identity.signing_key.public_key()}
    kept, refused = ctx.contracts.absorb(contract, ctx.identity.operator_key, own)
    for signed in kept:
        statement = signed.statement
        ctx.journal.record(ctx.clock(), "contract_statement_kept", contract_id=contract.contract_id,
                           action=statement.action, party=statement.party)  # fmt: skip
    for signed, reason in refused:
        statement = signed.statement
        ctx.journal.record(ctx.clock(), "contract_statement_refused", contract_id=contract.contract_id,
                           action=statement.action, party=statement.party, reason=reason,
                           about=statement.contract_id)  # fmt: skip


async def start_run(
    ctx: NodeContext, ticket: JobTicket, job_input: bytes | None = None
) -> tuple[RunState, serde.ClientMessage | PsiOutgoing]:
    """Accept a checked ticket: compute the local statistics, encode them, advertise aggregation keys.

    ``job_input`` is the buyer's input the coordinator sent ahead of the ticket (encrypted scoring).
    """
    verify_keys = check_peer_keys(ctx, ticket)
    plaintext, min_cohort = False, 2
    work: ScoringWork | None = None
    if ticket.spec.get("kind") == DIAGNOSTIC_KIND:
        try:
            diagnostic = DiagnosticSpec.model_validate(ticket.spec)
        except ValueError as exc:
            raise JobRefused("invalid_spec", f"diagnostic spec is malformed: {exc}") from exc
        encoded = synthetic_vector(diagnostic, ticket.participants.index(ctx.identity.participant_id))
        plaintext = diagnostic.protocol == "plaintext"
    else:
        spec, contract = check_job(ctx, ticket)
        if ticket.secagg_mode != SecurityMode.MALICIOUS:
            raise JobRefused("secagg_mode", "factory data is aggregated only in the malicious-secure mode")
        # The floor comes from the signed contract (and the job, if stricter), never from the ticket.
        min_cohort = release_rules(contract, spec).min_cohort
        _check_threshold(ticket, min_cohort)
        if spec.kind in PSI_KINDS:
            psi, request = await _psi_start(ctx, ticket, spec, contract)
            config, state = _secagg_client(ctx, ticket, verify_keys, min_cohort)
            _journal_accepted(ctx, ticket)
            empty = np.zeros(ticket.vector_length, dtype=np.uint64)  # until the buyer answers
            return RunState(ticket, state, empty, psi=psi), PsiOutgoing(request)
        encoded, work = await _local_statistics(ctx, ticket, spec, contract, job_input)
    config, state = _secagg_client(ctx, ticket, verify_keys, min_cohort)
    _journal_accepted(ctx, ticket)
    if plaintext:  # diagnostics baseline: synthetic data only, sent in the clear in one round
        return RunState(ticket, state, encoded), MaskedInput(
            ctx.identity.participant_id, fixedpoint.pack(encoded, config.ring_bits)
        )
    state, message = client.advertise_keys(state, signing_key=ctx.identity.signing_key)
    return RunState(ticket, state, encoded, scoring=work), message


def _journal_accepted(ctx: NodeContext, ticket: JobTicket) -> None:
    ctx.journal.record(
        ctx.clock(),
        "job_accepted",
        job_id=ticket.job_id,
        run_id=ticket.run_id,
        buyer=ticket.buyer,
        kind=ticket.spec.get("kind"),
        dataset=ticket.spec.get("dataset"),
    )


async def _psi_start(
    ctx: NodeContext, ticket: JobTicket, spec: JobSpec, contract: Contract
) -> tuple[PsiWork | PsiSumWork, bytes]:
    """Read and normalise this node's keys; blind them (a count) or ask for the buyer's (a sum, b"").

    The job is charged to the contract as any job is.
    """
    dataset, layout = _dataset_layout(ctx, spec, ticket.vector_length)
    try:
        await asyncio.to_thread(ctx.data.verify, dataset)
    except DataError as exc:
        raise data_refusal(dataset, exc) from exc
    plan = plan_and_charge(ctx.ledger, ticket, spec, contract, layout)
    try:
        raw = await asyncio.to_thread(local_keys, spec, dataset.schema, dataset.paths, dataset.format)
    except LocalComputeError as exc:
        ctx.data.forget(dataset.paths)
        raise data_refusal(dataset, exc) from exc
    journal = {"job_id": ticket.job_id, "filters": [f.model_dump(mode="json") for f in spec.filters],
               "matched_rows": len(raw)}  # fmt: skip
    if spec.kind is JobKind.PSI_SUM:
        rows = PsiSumWork.of(spec, raw, len(ticket.participants))
        distinct, invalid = len(rows.rows.items), len(rows.rows.invalid)
        ctx.journal.record(ctx.clock(), "job_rows", **journal, distinct_keys=distinct, invalid_keys=invalid)
        return rows, b""
    keys = normalized(spec, [key for key, *_ in raw])
    state, request = await blind(keys)
    distinct, invalid = len(keys.keys), len(keys.invalid)
    ctx.journal.record(ctx.clock(), "job_rows", **journal, distinct_keys=distinct, invalid_keys=invalid)
    return PsiWork(spec, contract, layout, plan, state, len(keys.keys)), request


def psi_answered(ctx: NodeContext, run: RunState, data: bytes) -> serde.ClientMessage | PsiOutgoing:
    """A buyer's answer: the next protocol message, or (after the last) the start of secure aggregation.

    A count: the common keys, gated and noised, go into secure aggregation. A sum: the buyer's keys are
    answered with our rows; then the masked sum is decrypted to the point sent with the masked input, and
    secure aggregation adds one per factory, so the run knows how many points the total holds.
    """
    work = run.psi
    if work is None or run.secagg.stage is not client.ClientStage.INIT:
        raise JobRefused("unexpected_message", "a set-intersection answer this run did not ask for")
    if isinstance(work, PsiSumWork):
        if work.state is None:
            return PsiOutgoing(work.reply(data))
        run.point = work.decrypt(data)
        run.encoded = _encode(np.array([1.0, 1.0]), run.ticket)  # one contributor, its indicator
    else:
        gated = count_common(work, data)
        ctx.journal.record(ctx.clock(), "psi_counted", job_id=run.ticket.job_id, common_keys=int(gated[0]))
        run.encoded = add_noise_share(_encode(gated, run.ticket), work.plan, work.layout, ctx.rng)
    run.psi = None
    run.secagg, message = client.advertise_keys(run.secagg, signing_key=ctx.identity.signing_key)
    return message


def _check_threshold(ticket: JobTicket, min_cohort: int) -> None:
    floor = threshold_floor(len(ticket.participants), min_cohort)
    if ticket.threshold < floor:
        n = len(ticket.participants)
        reason = f"threshold {ticket.threshold} is below the floor {floor} (n = {n}, cohort {min_cohort})"
        raise JobRefused("low_threshold", reason)


def _secagg_client(
    ctx: NodeContext, ticket: JobTicket, verify_keys: dict[str, bytes], min_cohort: int
) -> tuple[SecAggConfig, client.ClientState]:
    try:
        mode = SecurityMode(ticket.secagg_mode)
        if mode is SecurityMode.MALICIOUS:
            _check_threshold(ticket, min_cohort)
        config = SecAggConfig(
            session_id=ticket.session_id_bytes(),
            participants=ticket.participants,
            threshold=ticket.threshold,
            ring_bits=ticket.ring_bits,  # type: ignore[arg-type]
            vector_length=ticket.vector_length,
            verify_keys=verify_keys,
            mode=mode,
        )
    except ValueError as exc:
        raise JobRefused("malformed_ticket", f"the ticket's protocol parameters are invalid: {exc}") from exc
    return config, client.new_client(config, ctx.identity.participant_id)


async def _local_statistics(
    ctx: NodeContext, ticket: JobTicket, spec: JobSpec, contract: Contract, job_input: bytes | None = None
) -> tuple[RingArray, ScoringWork | None]:
    """The encoded vector this node feeds into secure aggregation and, for encrypted scoring, its work."""
    dataset, layout = _dataset_layout(ctx, spec, ticket.vector_length)
    scored = spec.kind is JobKind.ENCRYPTED_SCORING
    # Encrypted scoring sends only each group's row count and indicator through secure aggregation.
    released = count_positions(layout) if scored else None
    # The buyer's query is checked before anything is computed or charged.
    opened = await asyncio.to_thread(open_input, job_input, spec) if scored else None
    try:  # cheap unless a file changed since it last passed; before charging, as nothing is computed yet
        await asyncio.to_thread(ctx.data.verify, dataset)
    except DataError as exc:
        raise data_refusal(dataset, exc) from exc
    plan = plan_and_charge(ctx.ledger, ticket, spec, contract, layout)
    try:
        values = await asyncio.to_thread(local_vector, spec, dataset.schema, dataset.paths, dataset.format)
    except LocalComputeError as exc:  # a line the check does not parse; charged: no refunds
        ctx.data.forget(dataset.paths)
        raise data_refusal(dataset, exc) from exc
    # A cell this factory has too few rows for is left out, so no released figure can rest on a handful
    # of its rows; the indicators tell the coordinator how many factories stand behind each cell.
    gated = gate_cells(layout, values, contract.terms.privacy.min_rows_per_factory)
    ctx.journal.record(
        ctx.clock(),
        "job_rows",
        job_id=ticket.job_id,
        filters=[item.model_dump(mode="json") for item in spec.filters],
        matched_rows=gated.matched,
        cells=gated.cells,
        cells_contributed=gated.qualifying,
        rows_contributed=gated.rows,
    )
    noised = add_noise_share(_encode(gated.vector, ticket), plan, layout, ctx.rng)
    if released is None or opened is None:
        return noised, None
    # The sums the node encrypts are exactly its encoded share, noise included: the same release.
    decoded = fixedpoint.decode(noised, scale_bits=ticket.scale_bits, ring_bits=ticket.ring_bits)  # type: ignore[arg-type]
    public, queries = opened
    return noised[released], ScoringWork(public, queries, monomial_sums(layout, decoded))


def _dataset_layout(
    ctx: NodeContext, spec: JobSpec, ticket_length: int
) -> tuple[DatasetConfig, VectorLayout]:
    """The job's dataset here and its layout, which must have as many statistics as the ticket says."""
    try:
        dataset = ctx.config.dataset(spec.dataset)
    except ConfigError as exc:
        raise JobRefused("unknown_dataset", f"this node has no dataset {spec.dataset!r}") from exc
    try:
        layout = vector_layout(spec, dataset.schema)
    except JobSpecError as exc:
        raise JobRefused("invalid_spec", str(exc)) from exc
    # Encrypted scoring sends only each group's row count and indicator through secure aggregation.
    length = len(count_positions(layout)) if spec.kind is JobKind.ENCRYPTED_SCORING else layout.length
    if length != ticket_length:
        raise JobRefused("layout_mismatch", f"expected {length} statistics, ticket says {ticket_length}")
    return dataset, layout


def data_refusal(dataset: DatasetConfig, error: LocalComputeError) -> JobRefused:
    """The refusal sent for a dataset that cannot be used: a code and a reason that quote nothing of it."""
    if isinstance(error, DataError):
        return JobRefused(error.code, f"dataset {dataset.name!r}: {error.reason}", detail=error.detail)
    reason = f"dataset {dataset.name!r}: the local statistics could not be computed"
    return JobRefused("compute_failed", reason, detail=str(error))


def _encode(values: np.ndarray, ticket: JobTicket) -> RingArray:
    try:
        return fixedpoint.encode(
            values,
            scale_bits=ticket.scale_bits,
            ring_bits=ticket.ring_bits,  # type: ignore[arg-type]
            max_parties=len(ticket.participants),
        )
    except FixedPointOverflowError as exc:
        raise JobRefused("overflow", f"local statistics exceed the fixed-point range: {exc}") from exc


def advance(ctx: NodeContext, run: RunState, message: serde.ServerMessage) -> serde.ClientMessage:
    """Play one secure-aggregation round; the protocol state machine rejects anything out of order."""
    if isinstance(message, KeyTable):
        run.secagg, reply = client.share_keys(run.secagg, message)
        return reply
    if isinstance(message, RelayedShares):
        before = run.secagg
        run.secagg, masked = client.masked_input(run.secagg, message, run.encoded)
        if run.scoring is not None:
            run.scores = _masked_scores(run.scoring, before, run.secagg)
        if run.point is not None:
            run.masked_point = _masked_point(run.point, before, run.secagg)
        return masked
    if isinstance(message, ConsistencyRequest):
        run.secagg, signed = client.consistency(run.secagg, message, signing_key=ctx.identity.signing_key)
        return signed
    if isinstance(message, UnmaskRequest):
        run.secagg, shares = client.unmask(run.secagg, message)
        return shares
    raise TypeError(f"unexpected message {message!r}")


def _masked_input_seeds(before: client.ClientState, after: client.ClientState) -> dict[str, bytes]:
    """The seeds this node shares with each peer its masked input was masked with (U2), from the same keys.

    What is masked with them and sent with the masked input (encrypted scores, a set-intersection sum's
    point) is in the sum exactly when the input is: a node whose input is in the sum never has its mask
    key reconstructed, so what it sent stays masked for anyone but the sum's reader.
    """
    secret = before.mask_keys.secret if before.mask_keys is not None else None
    if secret is None:
        raise JobRefused("protocol_state", "the mask key is gone before the masked input")
    me = after.client_id
    peers = {v: before.key_table[v].mask_public for v in after.held_shares if v != me}
    return pairwise_seeds(after.config, me, secret, peers)


def _masked_scores(work: ScoringWork, before: client.ClientState, after: client.ClientState) -> list[bytes]:
    masks = signed_seeds(after.config, after.client_id, _masked_input_seeds(before, after))
    return encrypted_scores(work, masks, after.config.session_id)


def _masked_point(point: bytes, before: client.ClientState, after: client.ClientState) -> bytes:
    cfg, me = after.config, after.client_id
    seeds = _masked_input_seeds(before, after)
    return masked_point(point, me, list(cfg.ordered(after.held_shares)), seeds, cfg.session_id)


async def use_idle_time(run: RunState) -> None:
    """While the coordinator collects everyone's shares, expand the masks so the masked input is quick."""
    if run.secagg.stage is client.ClientStage.SHARES_SENT:
        run.secagg = await asyncio.to_thread(client.prepare_masks, run.secagg)
