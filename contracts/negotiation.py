"""Contract negotiation as an explicit state machine modelled on the Dataspace Protocol.

REQUESTED → OFFERED → AGREED → VERIFIED → FINALIZED, TERMINATED from any earlier state, REVOKED after
FINALIZED. Every event is a pure function ``(state, actor, now) -> state`` that raises
``IllegalTransitionError`` for a transition the table or the actor's role does not allow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict

from contracts.exceptions import IllegalTransitionError, NegotiationError


class Stage(StrEnum):
    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"
    REVOKED = "REVOKED"


class Event(StrEnum):
    REQUEST = "request"
    OFFER = "offer"
    AGREE = "agree"
    SIGN = "sign"
    COUNTERSIGN = "countersign"
    TERMINATE = "terminate"
    REVOKE = "revoke"


class Role(StrEnum):
    BUYER = "buyer"
    PROVIDER = "provider"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Transition:
    """Who may fire an event in a stage, and the stage it leads to once every required party has acted."""

    actors: frozenset[Role]
    target: Stage


FINAL_STAGES: Final = frozenset({Stage.TERMINATED, Stage.REVOKED})
_PARTIES = frozenset({Role.BUYER, Role.PROVIDER})
_SIGNATORIES = frozenset(Role)

TRANSITIONS: Final[Mapping[tuple[Stage, Event], Transition]] = MappingProxyType(
    {
        # Each provider offers; the stage moves on when the last one has.
        (Stage.REQUESTED, Event.OFFER): Transition(frozenset({Role.PROVIDER}), Stage.OFFERED),
        (Stage.OFFERED, Event.AGREE): Transition(frozenset({Role.BUYER}), Stage.AGREED),
        # Each party signs the terms; the stage moves on when the last one has.
        (Stage.AGREED, Event.SIGN): Transition(_PARTIES, Stage.VERIFIED),
        (Stage.VERIFIED, Event.COUNTERSIGN): Transition(frozenset({Role.OPERATOR}), Stage.FINALIZED),
        **{
            (stage, Event.TERMINATE): Transition(_SIGNATORIES, Stage.TERMINATED)
            for stage in (Stage.REQUESTED, Stage.OFFERED, Stage.AGREED, Stage.VERIFIED)
        },
        (Stage.FINALIZED, Event.REVOKE): Transition(_SIGNATORIES, Stage.REVOKED),
    }
)


# What a contract in each stage waits for, said when an event comes too early or too late.
AWAITING: Final[Mapping[Stage, str]] = MappingProxyType(
    {
        Stage.REQUESTED: "every provider's offer (each factory approves by its rules or by hand)",
        Stage.OFFERED: "the buyer's agreement",
        Stage.AGREED: "every party's signature over the terms",
        Stage.VERIFIED: "the operator's countersignature",
        Stage.FINALIZED: "nothing: it is in force, and can only be revoked",
        Stage.TERMINATED: "nothing: it was terminated",
        Stage.REVOKED: "nothing: it was revoked",
    }
)


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: Stage
    event: Event
    actor: str
    at: AwareDatetime


class Negotiation(BaseModel):
    """The negotiation state of one contract: stage, who has acted, and the full history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: Stage
    buyer: str
    providers: tuple[str, ...]
    operator: str
    offered_by: tuple[str, ...] = ()
    signed_by: tuple[str, ...] = ()
    history: tuple[HistoryEntry, ...]

    @property
    def parties(self) -> tuple[str, ...]:
        """Those who sign the terms: the buyer and every provider."""
        return (self.buyer, *self.providers)

    def role_of(self, actor: str) -> Role | None:
        if actor == self.buyer:
            return Role.BUYER
        if actor in self.providers:
            return Role.PROVIDER
        if actor == self.operator:
            return Role.OPERATOR
        return None


def request(buyer: str, providers: Sequence[str], operator: str, now: datetime) -> Negotiation:
    """The buyer opens a negotiation with one or more providers."""
    ids = [buyer, *providers, operator]
    if not providers or len(set(ids)) != len(ids) or not all(ids):
        raise NegotiationError(
            "a negotiation needs one buyer, at least one provider and an operator, all distinct",
            code="invalid_parties",
            details={"buyer": buyer, "providers": list(providers), "operator": operator},
        )
    entry = HistoryEntry(stage=Stage.REQUESTED, event=Event.REQUEST, actor=buyer, at=_utc(now))
    return Negotiation(
        stage=Stage.REQUESTED, buyer=buyer, providers=tuple(providers), operator=operator, history=(entry,)
    )


def offer(state: Negotiation, actor: str, now: datetime) -> Negotiation:
    rule = _authorise(state, Event.OFFER, actor)
    if actor in state.offered_by:
        raise _illegal(state, Event.OFFER, actor, f"{actor} has already offered")
    offered = (*state.offered_by, actor)
    stage = rule.target if set(offered) == set(state.providers) else state.stage
    return _advance(state, Event.OFFER, actor, now, stage).model_copy(update={"offered_by": offered})


def agree(state: Negotiation, actor: str, now: datetime) -> Negotiation:
    rule = _authorise(state, Event.AGREE, actor)
    return _advance(state, Event.AGREE, actor, now, rule.target)


def sign(state: Negotiation, actor: str, now: datetime) -> Negotiation:
    rule = _authorise(state, Event.SIGN, actor)
    if actor in state.signed_by:
        raise _illegal(state, Event.SIGN, actor, f"{actor} has already signed")
    signed = (*state.signed_by, actor)
    stage = rule.target if set(signed) == set(state.parties) else state.stage
    return _advance(state, Event.SIGN, actor, now, stage).model_copy(update={"signed_by": signed})


def countersign(state: Negotiation, actor: str, now: datetime) -> Negotiation:
    rule = _authorise(state, Event.COUNTERSIGN, actor)
    return _advance(state, Event.COUNTERSIGN, actor, now, rule.target)


def terminate(state: Negotiation, actor: str, now: datetime) -> Negotiation:
    rule = _authorise(state, Event.TERMINATE, actor)
    return _advance(state, Event.TERMINATE, actor, now, rule.target)


def revoke(state: Negotiation, actor: str, now: datetime) -> Negotiation:
    rule = _authorise(state, Event.REVOKE, actor)
    return _advance(state, Event.REVOKE, actor, now, rule.target)


Handler = Callable[[Negotiation, str, datetime], Negotiation]
HANDLERS: Final[Mapping[Event, Handler]] = MappingProxyType(
    {
        Event.OFFER: offer,
        Event.AGREE: agree,
        Event.SIGN: sign,
        Event.COUNTERSIGN: countersign,
        Event.TERMINATE: terminate,
        Event.REVOKE: revoke,
    }
)


def fire(state: Negotiation, event: Event, actor: str, now: datetime) -> Negotiation:
    """Apply ``event`` by ``actor`` at ``now``; ``request`` only ever opens a new negotiation."""
    handler = HANDLERS.get(event)
    if handler is None:
        raise _illegal(state, event, actor, "a negotiation that exists cannot be requested again")
    return handler(state, actor, now)


def _authorise(state: Negotiation, event: Event, actor: str) -> Transition:
    rule = TRANSITIONS.get((state.stage, event))
    if rule is None:
        message = (
            f"{event} is not allowed in state {state.stage}; the contract awaits {AWAITING[state.stage]}"
        )
        raise _illegal(state, event, actor, message)
    role = state.role_of(actor)
    if role not in rule.actors:
        who = f"a {role}" if role else "someone outside the contract"
        raise _illegal(state, event, actor, f"{event} in state {state.stage} cannot be done by {who}")
    return rule


def _advance(state: Negotiation, event: Event, actor: str, now: datetime, stage: Stage) -> Negotiation:
    at = _utc(now)
    if at < state.history[-1].at:
        raise NegotiationError(
            f"time went backwards: {at.isoformat()} is before the last event",
            code="time_went_backwards",
            details={"now": at.isoformat(), "last": state.history[-1].at.isoformat()},
        )
    entry = HistoryEntry(stage=stage, event=event, actor=actor, at=at)
    return state.model_copy(update={"stage": stage, "history": (*state.history, entry)})


def _illegal(state: Negotiation, event: Event, actor: str, message: str) -> IllegalTransitionError:
    return IllegalTransitionError(state.stage, event, actor, message)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise NegotiationError("time must carry a time zone", code="naive_time")
    return now.astimezone(UTC)
