"""Store contract tests, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from coordinator.exceptions import ConflictError, GoneError, NotFoundError, PolicyViolationError
from coordinator.store.database import Charge, Store
from coordinator.store.tables import (
    ContractRow,
    EnrollmentTokenRow,
    Job,
    JobExchangeRow,
    JobInputRow,
    JobState,
)

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def _job(job_id: str, created: datetime, contract_id: str | None = None) -> Job:
    return Job(
        job_id=job_id,
        buyer_id="B",
        contract_id=contract_id,
        kind="mean",
        spec_json="{}",
        state=JobState.QUEUED,
        created_at=created,
        updated_at=created,
    )


def _token(token_id: str, expires: datetime) -> EnrollmentTokenRow:
    return EnrollmentTokenRow(
        token_id=token_id,
        secret_hash="h" * 64,
        participant_id="P",
        role="factory",
        created_at=NOW,
        expires_at=expires,
    )


def _at_most(max_jobs: int, charge: Charge) -> Callable[[ContractRow], Charge]:
    """A decision like the query-count constraint's, slow enough that unlocked admissions would interleave."""

    def decide(row: ContractRow) -> Charge:
        if row.jobs_run >= max_jobs:
            raise PolicyViolationError("query count reached", details={"constraint": "query_count"})
        threading.Event().wait(0.002)
        return charge

    return decide


def _admit_together(store: Store, decide: Callable[[ContractRow], Charge], count: int) -> list[str]:
    """``count`` threads admit a job on contract C at once; return how each ended ("ok" or an error code)."""
    start = threading.Barrier(count)

    def admit(n: int) -> str:
        start.wait(timeout=30)
        try:
            store.admit_job(_job(f"job_{n:02d}", NOW, "C"), decide)
        except PolicyViolationError as refused:
            return refused.code
        return "ok"

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(admit, range(count)))


class TestStore:
    def test_token_is_redeemed_exactly_once(self, engine: Engine) -> None:
        store = Store(engine)
        store.add_enrollment_token(_token("tok00001", NOW + timedelta(hours=1)))
        row = store.redeem_enrollment_token("tok00001", "h" * 64, NOW)
        assert row.participant_id == "P" and row.used_at is not None
        with pytest.raises(ConflictError) as err:
            store.redeem_enrollment_token("tok00001", "h" * 64, NOW)
        assert err.value.code == "token_used"

    def test_expired_wrong_and_unknown_tokens_are_refused(self, engine: Engine) -> None:
        store = Store(engine)
        store.add_enrollment_token(_token("tok00002", NOW - timedelta(seconds=1)))
        with pytest.raises(GoneError):
            store.redeem_enrollment_token("tok00002", "h" * 64, NOW)
        with pytest.raises(NotFoundError):
            store.redeem_enrollment_token("tok00002", "x" * 64, NOW)
        with pytest.raises(NotFoundError):
            store.redeem_enrollment_token("nope0000", "h" * 64, NOW)
        assert store.enrollment_token("tok00002").used_at is None  # a refused redemption writes nothing

    def test_jobs_are_claimed_oldest_first_and_once(self, engine: Engine) -> None:
        store = Store(engine)
        store.add_job(_job("job_b", NOW + timedelta(seconds=1)))
        store.add_job(_job("job_a", NOW))
        first = store.claim_next_job("c1", NOW)
        second = store.claim_next_job("c2", NOW)
        assert (first.job_id, second.job_id) == ("job_a", "job_b")
        assert first.state == JobState.RUNNING and first.attempts == 1 and first.claimed_by == "c1"
        assert store.claim_next_job("c1", NOW) is None

    def test_interrupted_jobs_are_requeued_for_their_owner_only(self, engine: Engine) -> None:
        store = Store(engine)
        for name in ("job_1", "job_2"):
            store.add_job(_job(name, NOW))
        store.claim_next_job("c1", NOW)
        store.claim_next_job("c2", NOW)
        assert store.requeue_interrupted("c1", NOW) == 1
        states = {j.job_id: j.state for j in store.jobs()}
        assert sorted(states.values()) == [JobState.QUEUED, JobState.RUNNING]
        again = store.claim_next_job("c1", NOW)
        assert again.attempts == 2

    def test_finished_job_keeps_result_and_aware_times(self, engine: Engine) -> None:
        store = Store(engine)
        store.add_job(_job("job_r", NOW))
        store.claim_next_job("c1", NOW)
        store.finish_job(
            "job_r", JobState.SUCCEEDED, NOW, result_json=json.dumps({"mean": 1.5}), contributors=4
        )
        job = store.job("job_r")
        assert json.loads(job.result_json or "") == {"mean": 1.5}
        assert job.contributors == 4 and job.state == JobState.SUCCEEDED
        with pytest.raises(NotFoundError):
            store.job("job_missing")

    def test_node_datasets_replace_previous_declaration(self, engine: Engine) -> None:
        store = Store(engine)
        store.set_node_datasets("P1", {"a": "{}", "b": "{}"}, NOW)
        store.set_node_datasets("P1", {"b": '{"x": 1}'}, NOW)
        store.set_node_datasets("P2", {"b": "{}"}, NOW)
        rows = store.node_datasets("b")
        assert [(r.participant_id, r.schema_text) for r in rows] == [("P1", '{"x": 1}'), ("P2", "{}")]
        assert store.node_datasets("a") == []

    def test_concurrent_admissions_stop_at_the_limit(self, engine: Engine) -> None:
        store = Store(engine)
        store.save_contract("C", "B", "FINALIZED", "{}", NOW)
        outcomes = _admit_together(store, _at_most(5, Charge(epsilon=0.25, rho=0.125)), 40)
        assert sorted(outcomes) == ["ok"] * 5 + ["policy_violation"] * 35
        row = store.contract("C")
        assert (row.jobs_run, row.epsilon_spent, row.rho_spent) == (5, 1.25, 0.625)
        assert len([job for job in store.jobs() if job.contract_id == "C"]) == 5

    def test_concurrent_charges_add_up_exactly(self, engine: Engine) -> None:
        store = Store(engine)
        store.save_contract("C", "B", "FINALIZED", "{}", NOW)
        outcomes = _admit_together(store, _at_most(1000, Charge(epsilon=0.5, rho=0.25)), 40)
        assert outcomes == ["ok"] * 40
        row = store.contract("C")
        assert (row.jobs_run, row.epsilon_spent, row.rho_spent) == (40, 20.0, 10.0)

    def test_refused_admission_writes_nothing(self, engine: Engine) -> None:
        store = Store(engine)
        store.save_contract("C", "B", "FINALIZED", "{}", NOW)
        store.admit_job(_job("job_1", NOW, "C"), lambda row: Charge(epsilon=1.0))
        seen: list[tuple[int, float]] = []

        def refuse(row: ContractRow) -> Charge:
            seen.append((row.jobs_run, row.epsilon_spent))
            raise PolicyViolationError("no", details={"constraint": "epsilon_budget"})

        with pytest.raises(PolicyViolationError):
            store.admit_job(_job("job_2", NOW, "C"), refuse)
        assert seen == [(1, 1.0)]
        row = store.contract("C")
        assert (row.jobs_run, row.epsilon_spent, row.rho_spent) == (1, 1.0, 0.0)
        assert [job.job_id for job in store.jobs()] == ["job_1"]
        with pytest.raises(NotFoundError):
            store.admit_job(_job("job_3", NOW, "missing"), refuse)
        assert len(seen) == 1  # no row, no decision

    def test_an_admission_in_progress_blocks_admissions_but_not_reads(self, engine: Engine) -> None:
        store = Store(engine)
        store.save_contract("C", "B", "FINALIZED", "{}", NOW)
        deciding, release = threading.Event(), threading.Event()

        def hold(row: ContractRow) -> Charge:
            deciding.set()
            assert release.wait(timeout=30)
            return Charge()

        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(store.admit_job, _job("job_1", NOW, "C"), hold)
            assert deciding.wait(timeout=30)
            second = pool.submit(store.admit_job, _job("job_2", NOW, "C"), _at_most(1, Charge()))
            assert store.contract("C").jobs_run == 0  # a reader does not wait for the lock
            time.sleep(0.2)  # the second admission reaches the lock and waits there
            assert not second.done()
            release.set()
            first.result(timeout=30)
            with pytest.raises(PolicyViolationError):
                second.result(timeout=30)  # it decided on the first one's committed count
        assert store.contract("C").jobs_run == 1


class TestBuyerPrivateInputs:
    def test_an_input_is_kept_once_per_buyer_and_digest(self, engine: Engine) -> None:
        store = Store(engine)
        row = dict(digest="d" * 64, he_params="ckks-8192", outputs=1, size=3, created_at=NOW)
        store.add_job_input(JobInputRow(buyer_id="B", data=b"abc", **row))  # type: ignore[arg-type]
        store.add_job_input(JobInputRow(buyer_id="B", data=b"abc", **row))  # type: ignore[arg-type]
        kept = store.job_input("B", "d" * 64)
        assert kept is not None and kept.data == b"abc"
        assert store.job_input("C", "d" * 64) is None  # another buyer cannot name it

    def test_the_buyer_answers_pending_messages_only_once_and_closing_forgets_them(
        self, engine: Engine
    ) -> None:
        store = Store(engine)
        rows = [JobExchangeRow(job_id="J", participant_id=p, run_id="R", request=p.encode(), created_at=NOW)
                for p in ("F1", "F2")]  # fmt: skip
        store.open_exchange(rows)
        assert store.answer_exchange("J", {"F1": b"a1", "F9": b"x"}) == 1  # F9 was never asked
        assert store.answer_exchange("J", {"F1": b"again"}) == 0  # an answer is final
        answers = {r.participant_id: r.response for r in store.exchange("J")}
        assert answers == {"F1": b"a1", "F2": None}
        store.open_exchange([JobExchangeRow(job_id="J", participant_id="F1", run_id="R2", request=b"n",
                                            created_at=NOW)])  # fmt: skip
        assert [(r.run_id, r.response) for r in store.exchange("J")] == [("R2", None)]  # a rerun starts clean
        store.close_exchange("J")
        assert store.exchange("J") == []
