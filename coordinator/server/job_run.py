"""One run of a joint-analysis job: pick participants, aggregate securely, finalise the result.

The run fails, keeping nothing partial, when fewer than ``min_participants`` nodes contributed; otherwise
each cell of the result is released or withheld by the contract's cell minimums.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from contracts.agreement import Contract
from contracts.analysis import finalize
from contracts.enforcement import release_rules
from contracts.exceptions import ContractsError
from contracts.jobspec import JobKind, JobSpec, VectorLayout, vector_layout
from contracts.negotiation import Stage
from contracts.noise import NoisePlan, plan_noise
from contracts.policy import JobRequest, evaluate_policy
from contracts.privacy import NoiseMode, PrivacyTerms, ReleaseRules
from contracts.schema import DatasetSchema
from contracts.scoring import COUNTED_KINDS, count_plan, count_spec
from coordinator.server.psi_run import PSI_ROUNDS, buyer_round, intersection_result, sum_result
from coordinator.server.run_channel import RunChannel, RunFailed
from coordinator.server.runtime import ServerContext
from coordinator.server.scoring_run import ScoringRun
from coordinator.services import contracting
from coordinator.services.datasets import dataset_schema
from coordinator.store.tables import Job
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols import fixedpoint
from protocols.he import query
from protocols.he.exceptions import HEError

RING_BITS: fixedpoint.RingBits = 64


@dataclass
class RunOutcome:
    result: dict[str, Any]
    contributors: int
    refusals: dict[str, str] = field(default_factory=dict)
    # A desensitization receipt, audited as extract.released once the result is stored.
    receipt: dict[str, Any] | None = None


class JobRun:
    def __init__(self, ctx: ServerContext, job: Job) -> None:
        self.ctx, self.job = ctx, job
        self.spec = JobSpec.model_validate_json(job.spec_json)
        self.participants: list[str] = []
        self.channel: RunChannel | None = None

    async def execute(self) -> RunOutcome:
        schema, holders = dataset_schema(self.ctx.store, self.spec.dataset)
        try:
            layout = vector_layout(self.spec, schema)
        except ContractsError as exc:
            raise RunFailed("invalid_spec", str(exc)) from exc
        scoring = await self._open_scoring() if self.spec.kind is JobKind.ENCRYPTED_SCORING else None
        # What goes through secure aggregation: the statistics, or a count view (``contracts.scoring``).
        counted = self.spec.kind in COUNTED_KINDS
        view_spec = count_spec(self.spec) if counted else self.spec
        view = vector_layout(view_spec, schema) if counted else layout
        contract = contracting.load(self.ctx, self.job.contract_id) if self.job.contract_id else None
        if contract is not None:  # only the factories that signed the contract take part
            holders = [pid for pid in holders if pid in contract.provider_ids]
        self.participants = await wait_for_participants(
            self.ctx, holders, self.spec.min_participants, self.spec.dataset
        )
        if contract is not None:
            self._check_contract_now(contract)
        self.channel = channel = RunChannel(self.ctx, self.job.job_id, self.job.buyer_id)
        rules = release_rules(contract, self.spec) if contract is not None else _job_rules(self.spec)
        try:
            order = self._order()
            buyer = self.job.buyer_id if order is not None else None
            self.participants = await channel.with_proven_keys(self.participants, buyer)
            if len(self.participants) < self.spec.min_participants:
                raise RunFailed("not_enough_nodes", f"{len(self.participants)} node(s) can prove their keys; "
                                f"the job needs {self.spec.min_participants}")  # fmt: skip
            config = channel.new_config(self.participants, rules.min_cohort, RING_BITS, view.length)
            terms = contract.model_dump(mode="json") if contract is not None else None
            spec = self.spec.model_dump(mode="json")
            if scoring is not None:
                channel.send_input(self.participants, scoring.data)
            channel.send_tickets(config, spec, self.spec.precision_bits, terms, order)
            unanswered: set[str] = set()
            # A count takes one answer from the buyer; a sum two (its keys, then the masked sums).
            for _ in range(PSI_ROUNDS.get(self.spec.kind, 0)):
                still = [pid for pid in self.participants if pid not in unanswered]
                unanswered |= await buyer_round(self.ctx, channel, still, self.spec.min_participants)
            aggregate, contributors = await channel.secure_aggregation(config, absent=unanswered)
        finally:
            channel.close()
        if contributors < self.spec.min_participants:
            raise RunFailed("too_few_contributors", f"only {contributors} nodes contributed; the job needs "
                            f"{self.spec.min_participants}")  # fmt: skip
        if self.spec.kind is JobKind.PSI_SUM:
            result = sum_result(self.spec, schema, channel)
            return RunOutcome(result, result["contributors"], channel.refusals)
        plan = self._plan(layout, contract, config.threshold)
        if not counted:
            result = self._release(schema, self.spec, layout, plan, contract, aggregate, contributors)
        else:
            counts = self._release(
                schema, view_spec, view, count_plan(plan), contract, aggregate, contributors
            )
            if scoring is not None:
                result = await scoring.finish(counts, channel, layout, plan, contributors)
            else:
                result = intersection_result(self.spec, counts)
        # From here on "contributors" means factories that qualified for every released cell.
        return RunOutcome(result, result["contributors"], channel.refusals)

    def _order(self) -> dict[str, Any] | None:
        """The buyer's signed order of this job, if it came with one (required for some kinds)."""
        row = self.ctx.store.job_order(self.job.job_id)
        return json.loads(row.order_json) if row is not None else None

    async def _open_scoring(self) -> ScoringRun:
        row = self.ctx.store.job_input(self.job.buyer_id, self.spec.input_digest or "")
        if row is None:
            raise RunFailed("input_not_found", "the job's encrypted input is no longer stored")
        try:
            public, _ = await asyncio.to_thread(
                query.open_query, row.data, params=row.he_params, outputs=row.outputs
            )
        except HEError as exc:
            raise RunFailed("malformed_input", f"the job's encrypted input does not load: {exc}") from exc
        return ScoringRun(self.spec, row.data, public)

    def _plan(self, layout: VectorLayout, contract: Contract | None, threshold: int) -> NoisePlan | None:
        """The noise plan every node computed from the same spec, terms and threshold."""
        privacy = contract.terms.privacy if contract is not None else PrivacyTerms()
        try:
            return plan_noise(self.spec, layout, privacy, threshold)
        except ValueError as exc:
            raise RunFailed("epsilon_budget", str(exc)) from exc

    def _release(
        self,
        schema: DatasetSchema,
        spec: JobSpec,
        layout: VectorLayout,
        plan: NoisePlan | None,
        contract: Contract | None,
        aggregate: fixedpoint.RingArray,
        contributors: int,
    ) -> dict[str, Any]:
        """Noise (central mode), cell minimums and the figures."""
        if plan is not None and plan.mode is NoiseMode.CENTRAL:
            aggregate = aggregate + plan.sample(layout, self.ctx.rng)
        values = fixedpoint.decode(aggregate, scale_bits=spec.precision_bits, ring_bits=RING_BITS)
        rules = release_rules(contract, self.spec) if contract is not None else _job_rules(self.spec)
        noise = plan.report(layout, contributors) if plan is not None else None
        try:
            result = finalize(spec, schema, values, rules, noise)
        except ContractsError as exc:
            raise RunFailed("analysis_failed", str(exc)) from exc
        result["fixed_point_max_abs_error"] = fixedpoint.max_abs_error(contributors, spec.precision_bits)
        return result

    def _check_contract_now(self, contract: Contract) -> None:
        check_contract_now(self.ctx, self.spec, contract, len(self.participants))

    def abort(self, reason: str) -> None:
        """Tell every participant to drop the run at once; nothing of it is kept."""
        if self.channel is not None:
            for pid in self.participants:
                self.channel.send(pid, pb.ToNode(abort=pb.JobAbort(reason=reason)))

    def notify_finished(self, state: str) -> None:
        """Tell the participants the run is over, so they drop its state and journal the outcome."""
        if self.channel is not None:
            self.channel.notify_finished(self.participants, state)


def check_contract_now(ctx: ServerContext, spec: JobSpec, contract: Contract, factories: int) -> None:
    """Between submission and run the contract may have been revoked, or too few providers came."""
    request = JobRequest(
        spec=spec, buyer=contract.buyer, purpose=contract.purpose, region=contract.region, factories=factories
    )
    reasons = evaluate_policy(contract.terms.policy, request, None, ctx.clock())
    if contract.state is not Stage.FINALIZED:
        raise RunFailed("contract_state", f"the contract is {contract.state}")
    if reasons:
        raise RunFailed("policy_violation", f"{reasons[0].constraint}: {reasons[0].message}")


async def wait_for_participants(
    ctx: ServerContext, holders: list[str], minimum: int, dataset: str
) -> list[str]:
    """Connected holders of the dataset; wait a little for late nodes before giving up."""
    deadline = time.monotonic() + ctx.settings.participant_wait_s
    while True:
        connected = [pid for pid in holders if ctx.sessions.get(pid) is not None]
        if len(connected) >= minimum:
            return connected
        if time.monotonic() >= deadline:
            raise RunFailed(
                "not_enough_nodes",
                f"{len(connected)} node(s) holding {dataset!r} are connected; the job needs {minimum}",
            )
        await asyncio.sleep(0.2)


def _job_rules(spec: JobSpec) -> ReleaseRules:
    """Without a contract (operator diagnostics only) the default privacy terms still hold."""
    terms = PrivacyTerms()
    return ReleaseRules(spec.min_participants, terms.min_cell_rows, terms.min_rows_per_factory)
