"""Store contract tests, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from coordinator.exceptions import ConflictError, GoneError, NotFoundError
from coordinator.store.database import Store
from coordinator.store.tables import EnrollmentTokenRow, Job, JobState

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def _job(job_id: str, created: datetime) -> Job:
    return Job(
        job_id=job_id,
        buyer_id="B",
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
