"""The one canonical encoding: its safe domain, its round trip, and the promise that whatever a job spec
accepts can be signed into a ticket, logged as an audit entry, read back and verified.

The attacker here is a buyer crafting numbers and strings: 1e16, NaN, 2^53, lone surrogates, NULs.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from contracts.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalError,
    bounded,
    canonical,
    check_domain,
    parse_canonical,
)
from contracts.exceptions import ContractsError
from contracts.filters import FilterOp
from contracts.jobspec import MAX_BIN_EDGES, JobKind, JobSpec
from contracts.tickets import JobTicket, sign_ticket, verify_ticket
from coordinator.audit.entries import AuditEntry, new_entry
from coordinator.audit.store import AuditLog
from coordinator.audit.verify import verify_store
from protocols.tlog.exceptions import EntryError
from protocols.tlog.note import NoteSigner

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TICKET_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LOG_SIGNER = NoteSigner("dataspace.test/canonical", bytes(range(1, 33)))

# ------------------------------------------------------------------------------------------- the domain


@pytest.mark.parametrize(
    "value",
    [
        float("nan"), float("inf"), -float("inf"), 1e16, -1e16, 2.0**53, 1e20, 1e21, 2**53, -(2**53), 10**30,
        "\ud800", {"k": "a\udfffb"}, {"\ud800": 1}, {1: "x"}, b"bytes", {1, 2}, datetime(2026, 1, 1),
        [[[[1e16]]]],
    ],
    ids=repr,
)  # fmt: skip
def test_values_outside_the_safe_domain_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalError):
        canonical(value)
    with pytest.raises(CanonicalError):
        check_domain(value)


def test_a_refusal_is_a_typed_error_naming_the_place() -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical({"filters": [{"value": 1e16}]})
    assert isinstance(caught.value, ContractsError) and isinstance(caught.value, ValueError)
    assert caught.value.code == "not_canonical"
    assert caught.value.details["path"] == ["filters", 0, "value"]


@pytest.mark.parametrize(
    "value", [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, float(MAX_SAFE_INTEGER), 5.0, -0.0, 1e-7, 5e-324, "a\x00b"]
)
def test_the_edges_of_the_domain_round_trip(value: Any) -> None:
    data = canonical({"x": value})
    assert canonical(parse_canonical(data)) == data


@pytest.mark.parametrize(
    "data",
    [
        b'{"x":10000000000000000}',  # what rfc8785 writes for 1e16: the bytes that poisoned the log
        b'{"x":NaN}',
        b'{"x":1,"x":2}',
        b'{"b":1,"a":2}',
        b'{"x": 1}',
        b'{"x":"\\ud800"}',
        b"\xff",
        b'{"x":1.0}',
    ],
)
def test_parse_accepts_only_canonical_bytes(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        parse_canonical(data)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats()
    | st.sampled_from([1e16, 2.0**53, 9007199254740991.0, 1e21, -0.0, float("nan")])
    | st.text(max_size=20)
    | st.sampled_from(["\ud800", "a\x00", "\u2028"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_either_refuses_or_round_trips(value: Any) -> None:
    try:
        data = canonical(value)
    except CanonicalError:
        event("refused")
        return
    event("encoded")
    assert canonical(parse_canonical(data)) == data


@given(json_values | st.builds(object) | st.binary())
def test_bounded_always_lands_inside_the_domain(value: Any) -> None:
    canonical(bounded(value))


# --------------------------------------------------------------------------------- job specs at the model


@pytest.mark.parametrize(
    "extra",
    [
        {"kind": "histogram", "field": "temp", "bins": [1500, float("inf")]},
        {"kind": "histogram", "field": "temp", "bins": [i / 2000 for i in range(MAX_BIN_EDGES + 1)]},
        {"kind": "mean", "field": "temp", "filters": [{"field": "temp", "op": "gt", "value": float("nan")}]},
        {"kind": "mean", "field": "temp", "filters": [{"field": "temp", "op": "lt", "value": 1e16}]},
        {"kind": "mean", "field": "temp", "filters": [{"field": "shift", "op": "eq", "value": "A\x00"}]},
        {"kind": "mean", "field": "temp", "epsilon": float("nan")},
        {"kind": "mean", "field": "te mp"},
        {"kind": "linear_regression", "features": [f"f{i}" for i in range(17)], "target": "y"},
    ],
)
def test_the_job_spec_model_refuses_what_canonical_json_cannot_carry(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"dataset": "plant", **extra})


valid_names = st.sampled_from(["temp", "shift", "ts", "energy", "y"])
names = valid_names | valid_names | valid_names | st.text(max_size=70)
numbers = (
    st.floats(min_value=-1e6, max_value=1e6)
    | st.floats()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([1e16, -1e16, 2.0**53, 9007199254740991.0, 1e20, 1e21, -0.0, 5e-324])
)
texts = st.text(max_size=40) | st.sampled_from(["A", "2026-01-01T00:00:00", "\ud800", "a\x00", "x" * 300])
values = numbers | texts | st.lists(numbers | texts, max_size=4) | st.lists(numbers, min_size=2, max_size=2)
filters = st.lists(
    st.fixed_dictionaries(
        {"field": names, "op": st.sampled_from([str(op) for op in FilterOp]), "value": values}
    ),
    max_size=3,
)
raw_specs = st.fixed_dictionaries(
    {
        "kind": st.sampled_from([str(kind) for kind in JobKind]),
        "dataset": st.just("plant") | st.text(max_size=8),
    },
    optional={
        "field": names,
        "group_by": names,
        "bins": st.lists(numbers, max_size=5),
        "features": st.lists(names, max_size=4),
        "target": names,
        "filters": filters,
        "epsilon": st.floats(min_value=0.01, max_value=10) | numbers,
        "min_participants": st.integers(min_value=3, max_value=20)
        | st.integers(min_value=-5, max_value=2**60),
        "precision_bits": st.integers(min_value=0, max_value=48) | st.integers(min_value=-5, max_value=100),
    },
)


ENGINE = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})


@pytest.fixture(scope="module")
def log() -> AuditLog:
    return AuditLog(ENGINE, LOG_SIGNER.name, LOG_SIGNER)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_specs)
def test_whatever_a_job_spec_accepts_is_signed_logged_read_back_and_verified(
    log: AuditLog, raw: dict[str, Any]
) -> None:
    try:
        spec = JobSpec.model_validate(raw)
    except ValidationError:
        event("refused by the model")
        return
    event("accepted by the model")
    document = spec.model_dump(mode="json")
    assert JobSpec.model_validate(parse_canonical(canonical(document))) == spec

    # Signed into a ticket, and verified as a node does it (the ticket is re-canonicalised there).
    ticket = JobTicket(job_id="job_1", run_id="run_1", buyer="b", spec=document, participants=("a", "b", "c"),
                       threshold=2, ring_bits=64, scale_bits=16, vector_length=1,
                       session_id=base64.b64encode(b"s" * 16).decode(), nonce="n", issued_at=NOW,
                       expires_at=NOW + timedelta(minutes=5))  # fmt: skip
    payload, signature = sign_ticket(ticket, TICKET_KEY)
    verified = verify_ticket(
        payload, signature, TICKET_KEY.public_key(), now=NOW, nonce_unused=lambda _n: True
    )
    assert JobSpec.model_validate(verified.spec) == spec

    # Logged, read back through the store, and the whole log verified against its key.
    entry = log.append("buyer", "job.submitted", {"job": "job_1"}, {"spec": document}, NOW)
    assert JobSpec.model_validate(log.entry(entry.index).payload["spec"]) == spec
    log.checkpoint(NOW)
    assert verify_store(ENGINE, LOG_SIGNER.verifier()).size == entry.index + 1


# -------------------------------------------------------------------------------- entries, at the append


@pytest.mark.parametrize("payload", [{"x": 1e16}, {"x": float("nan")}, {"x": "\ud800"}, {"x": 2**53}])
def test_an_entry_that_could_not_be_read_back_is_never_written(
    log: AuditLog, payload: dict[str, Any]
) -> None:
    size = log.size()
    with pytest.raises(EntryError):
        new_entry(0, "actor", "kind", {}, payload, NOW).canonical_bytes()
    with pytest.raises(EntryError):
        log.append("actor", "job.submitted", {"job": "job_1"}, payload, NOW)
    assert log.size() == size


def test_entry_bytes_read_back_as_the_same_entry() -> None:
    entry = new_entry(3, "buyer", "job.refused", {"participant": "p"}, {"n": 5.0, "t": ("a", 1)}, NOW)
    data = entry.canonical_bytes()
    assert AuditEntry.from_canonical(data).canonical_bytes() == data
