"""The negotiation state machine: the whole (state x event x actor) table, partial steps, and random paths."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.exceptions import IllegalTransitionError, NegotiationError
from contracts.negotiation import TRANSITIONS, Event, Negotiation, Stage, fire, request
from tests.contracts.test_offers import BUYER, NOW, OPERATOR, PROVIDERS, STRANGER

P1, P2 = PROVIDERS[:2]
ACTORS = {"buyer": BUYER, "p1": P1, "p2": P2, "operator": OPERATOR, "stranger": STRANGER}
EVERYONE_INSIDE = {"buyer", "p1", "p2", "operator"}
OPEN_STAGES = (Stage.REQUESTED, Stage.OFFERED, Stage.AGREED, Stage.VERIFIED)

# Written out independently of contracts.negotiation.TRANSITIONS: who may fire what, on entering each stage.
LEGAL: dict[tuple[Stage, Event], set[str]] = {
    (Stage.REQUESTED, Event.OFFER): {"p1", "p2"},
    (Stage.OFFERED, Event.AGREE): {"buyer"},
    (Stage.AGREED, Event.SIGN): {"buyer", "p1", "p2"},
    (Stage.VERIFIED, Event.COUNTERSIGN): {"operator"},
    **{(stage, Event.TERMINATE): EVERYONE_INSIDE for stage in OPEN_STAGES},
    (Stage.FINALIZED, Event.REVOKE): EVERYONE_INSIDE,
}
# The first offer or signature of several leaves the stage as it is.
NEXT: dict[Event, Stage | None] = {
    Event.OFFER: None,
    Event.AGREE: Stage.AGREED,
    Event.SIGN: None,
    Event.COUNTERSIGN: Stage.FINALIZED,
    Event.TERMINATE: Stage.TERMINATED,
    Event.REVOKE: Stage.REVOKED,
}
HAPPY_PATH = [
    (Event.OFFER, P1),
    (Event.OFFER, P2),
    (Event.AGREE, BUYER),
    (Event.SIGN, BUYER),
    (Event.SIGN, P2),
    (Event.SIGN, P1),
    (Event.COUNTERSIGN, OPERATOR),
]


def start(providers: tuple[str, ...] = (P1, P2)) -> Negotiation:
    return request(BUYER, providers, OPERATOR, NOW)


def reach(stage: Stage) -> Negotiation:
    """The state just after entering ``stage`` along the happy path (or by terminating / revoking)."""
    state = start()
    if stage is Stage.TERMINATED:
        return fire(state, Event.TERMINATE, P2, NOW)
    for event, actor in HAPPY_PATH:
        if state.stage is stage:
            return state
        state = fire(state, event, actor, NOW)
    return fire(state, Event.REVOKE, BUYER, NOW) if stage is Stage.REVOKED else state


def test_happy_path_reaches_finalized_and_keeps_history() -> None:
    state = start()
    for minute, (event, actor) in enumerate(HAPPY_PATH, start=1):
        state = fire(state, event, actor, NOW + timedelta(minutes=minute))
    assert state.stage is Stage.FINALIZED
    assert [(h.stage, h.actor) for h in state.history] == [
        (Stage.REQUESTED, BUYER),
        (Stage.REQUESTED, P1),
        (Stage.OFFERED, P2),
        (Stage.AGREED, BUYER),
        (Stage.AGREED, BUYER),
        (Stage.AGREED, P2),
        (Stage.VERIFIED, P1),
        (Stage.FINALIZED, OPERATOR),
    ]
    assert [h.at for h in state.history] == [NOW + timedelta(minutes=m) for m in range(8)]
    assert fire(state, Event.REVOKE, P1, NOW + timedelta(days=1)).stage is Stage.REVOKED


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("event", list(Event))
@pytest.mark.parametrize("actor", list(ACTORS))
def test_transition_table(stage: Stage, event: Event, actor: str) -> None:
    state = reach(stage)
    assert state.stage is stage
    if actor in LEGAL.get((stage, event), set()):
        after = fire(state, event, ACTORS[actor], NOW)
        assert after.stage is (NEXT[event] or stage)
        assert after.history[-1].actor == ACTORS[actor]
        return
    with pytest.raises(IllegalTransitionError) as caught:
        fire(state, event, ACTORS[actor], NOW)
    assert caught.value.current_state == stage
    assert caught.value.event == event
    assert caught.value.actor == ACTORS[actor]
    assert caught.value.to_dict()["details"]["current_state"] == stage.value


@pytest.mark.parametrize(
    ("stage", "awaited"),
    [
        (Stage.REQUESTED, "every provider's offer"),
        (Stage.OFFERED, "the buyer's agreement"),
        (Stage.AGREED, "every party's signature"),
        (Stage.VERIFIED, "the operator's countersignature"),
        (Stage.FINALIZED, "can only be revoked"),
    ],
)
def test_an_event_too_early_or_too_late_says_what_the_contract_awaits(stage: Stage, awaited: str) -> None:
    event = Event.AGREE if stage is not Stage.OFFERED else Event.SIGN
    with pytest.raises(
        IllegalTransitionError, match=f"not allowed in state {stage}; the contract awaits"
    ) as caught:
        fire(reach(stage), event, ACTORS["buyer"], NOW)
    assert awaited in str(caught.value)


def test_the_table_in_the_code_matches_the_one_written_here() -> None:
    roles = {"buyer": "buyer", "p1": "provider", "p2": "provider", "operator": "operator"}
    written = {key: {roles[a] for a in actors} for key, actors in LEGAL.items()}
    assert {key: {str(r) for r in rule.actors} for key, rule in TRANSITIONS.items()} == written


def test_every_provider_must_offer_before_the_buyer_can_agree() -> None:
    state = fire(start(), Event.OFFER, P1, NOW)
    assert state.stage is Stage.REQUESTED
    with pytest.raises(IllegalTransitionError):
        fire(state, Event.AGREE, BUYER, NOW)
    with pytest.raises(IllegalTransitionError, match="already offered"):
        fire(state, Event.OFFER, P1, NOW)
    assert fire(state, Event.OFFER, P2, NOW).stage is Stage.OFFERED


def test_every_party_must_sign_before_the_operator_countersigns() -> None:
    state = fire(reach(Stage.AGREED), Event.SIGN, BUYER, NOW)
    state = fire(state, Event.SIGN, P1, NOW)
    assert state.stage is Stage.AGREED
    with pytest.raises(IllegalTransitionError):
        fire(state, Event.COUNTERSIGN, OPERATOR, NOW)
    with pytest.raises(IllegalTransitionError, match="already signed"):
        fire(state, Event.SIGN, P1, NOW)
    assert fire(state, Event.SIGN, P2, NOW).stage is Stage.VERIFIED


def test_a_single_provider_negotiation() -> None:
    state = fire(start((P1,)), Event.OFFER, P1, NOW)
    assert state.stage is Stage.OFFERED
    with pytest.raises(IllegalTransitionError):
        fire(state, Event.OFFER, P2, NOW)


@pytest.mark.parametrize(
    ("buyer", "providers", "operator"),
    [
        (BUYER, (), OPERATOR),
        (BUYER, (P1, P1), OPERATOR),
        (BUYER, (P1,), BUYER),
        (P1, (P1,), OPERATOR),
        ("", (P1,), OPERATOR),
    ],
)
def test_request_needs_distinct_parties(buyer: str, providers: tuple[str, ...], operator: str) -> None:
    with pytest.raises(NegotiationError) as caught:
        request(buyer, providers, operator, NOW)
    assert caught.value.code == "invalid_parties"


def test_time_must_not_go_backwards_and_must_carry_a_zone() -> None:
    state = start()
    with pytest.raises(NegotiationError) as caught:
        fire(state, Event.OFFER, P1, NOW - timedelta(seconds=1))
    assert caught.value.code == "time_went_backwards"
    with pytest.raises(NegotiationError) as caught:
        fire(state, Event.OFFER, P1, datetime(2025, 3, 1, 9))
    assert caught.value.code == "naive_time"


def legal_moves(state: Negotiation) -> list[tuple[Event, str]]:
    """Every legal (event, actor) in ``state``, derived from the rules rather than the code's table."""
    inside = [state.buyer, *state.providers, state.operator]
    moves: list[tuple[Event, str]] = []
    if state.stage is Stage.REQUESTED:
        moves += [(Event.OFFER, p) for p in state.providers if p not in state.offered_by]
    if state.stage is Stage.OFFERED:
        moves.append((Event.AGREE, state.buyer))
    if state.stage is Stage.AGREED:
        moves += [(Event.SIGN, p) for p in state.parties if p not in state.signed_by]
    if state.stage is Stage.VERIFIED:
        moves.append((Event.COUNTERSIGN, state.operator))
    if state.stage in OPEN_STAGES:
        moves += [(Event.TERMINATE, p) for p in inside]
    if state.stage is Stage.FINALIZED:
        moves += [(Event.REVOKE, p) for p in inside]
    return moves


def assert_consistent(state: Negotiation) -> None:
    history = state.history
    assert (history[0].stage, history[0].event, history[0].actor) == (
        Stage.REQUESTED,
        Event.REQUEST,
        state.buyer,
    )
    for before, entry in itertools.pairwise(history):
        rule = TRANSITIONS[(before.stage, entry.event)]
        assert state.role_of(entry.actor) in rule.actors
        assert entry.stage in (rule.target, before.stage)
        assert entry.at >= before.at
    assert history[-1].stage is state.stage
    assert list(state.offered_by) == [h.actor for h in history if h.event is Event.OFFER]
    assert list(state.signed_by) == [h.actor for h in history if h.event is Event.SIGN]
    reached = {h.stage for h in history}
    if reached & {Stage.OFFERED}:
        assert set(state.offered_by) == set(state.providers)
    if reached & {Stage.VERIFIED}:
        assert set(state.signed_by) == set(state.parties)
    if state.stage is Stage.REVOKED:
        assert Stage.FINALIZED in reached
    if state.stage in (Stage.TERMINATED, Stage.REVOKED):
        assert legal_moves(state) == []


@settings(max_examples=150, deadline=None)
@given(data=st.data(), provider_count=st.integers(1, 3))
def test_random_paths_stay_legal_and_illegal_moves_raise(data: st.DataObject, provider_count: int) -> None:
    state = request(BUYER, PROVIDERS[:provider_count], OPERATOR, NOW)
    everyone = [BUYER, *PROVIDERS, OPERATOR, STRANGER]
    now = NOW
    for _ in range(12):
        assert_consistent(state)
        moves = legal_moves(state)
        event, actor = data.draw(st.tuples(st.sampled_from(list(Event)), st.sampled_from(everyone)))
        if (event, actor) not in moves:
            with pytest.raises(IllegalTransitionError) as caught:
                fire(state, event, actor, now)
            assert caught.value.current_state == state.stage
        if not moves:
            break
        now += timedelta(seconds=data.draw(st.integers(0, 3600)))
        event, actor = data.draw(st.sampled_from(moves))
        state = fire(state, event, actor, now)
    assert_consistent(state)
