"""Usage policies in the style of ODRL (permissions, prohibitions, duties) and their evaluation.

``evaluate_policy`` checks every constraint of a policy against a job request and reports every one that
fails; ``contracts.enforcement`` applies it to a whole contract.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.jobspec import JobSpec
from contracts.offers import Region
from contracts.vocabulary import ConstraintName
from protocols.dp.accounting import epsilon_for, rho_for


class SetConstraint(BaseModel):
    """``isAnyOf``: every requested value is in the right operand; ``isNoneOf``: none is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["set"] = "set"
    left_operand: ConstraintName
    operator: Literal["isAnyOf", "isNoneOf"]
    right_operand: tuple[str, ...]


class NumberConstraint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["number"] = "number"
    left_operand: ConstraintName
    operator: Literal["lteq", "gteq"]
    right_operand: float = Field(allow_inf_nan=False)  # a NaN limit would compare false and fail open


class TimeConstraint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["time"] = "time"
    left_operand: ConstraintName
    operator: Literal["gteq", "lt"]
    right_operand: AwareDatetime


Constraint = Annotated[SetConstraint | NumberConstraint | TimeConstraint, Field(discriminator="kind")]


class Permission(BaseModel):
    """The buyer may ``aggregate`` over ``target`` (or ``extract`` rows of it) when every constraint holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["aggregate", "extract"] = "aggregate"
    target: str
    constraints: tuple[Constraint, ...]


class Prohibition(BaseModel):
    """No job may use any ``target`` field while every ``when`` constraint holds (always, if none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ConstraintName
    action: Literal["use"] = "use"
    target: tuple[str, ...]
    when: tuple[Constraint, ...] = ()


class DutyAction(StrEnum):
    RESULTS_ONLY_AGGREGATE = "results_only_aggregate"
    # Record-level results only as the contract's desensitized, k-anonymous extracts; aggregates otherwise.
    RECORDS_ONLY_DESENSITIZED = "records_only_desensitized"
    DELETE_AFTER = "delete_after"


class Duty(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: DutyAction
    days: int | None = Field(default=None, ge=1)


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    assigners: tuple[str, ...]
    assignee: str
    permissions: tuple[Permission, ...]
    prohibitions: tuple[Prohibition, ...]
    duties: tuple[Duty, ...]


# ------------------------------------------------------------------------------------------- evaluation


class JobRequest(BaseModel):
    """A job as the policy sees it: who asks, why, from where, over how many factories."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: JobSpec
    buyer: str
    purpose: str
    region: Region
    factories: int = Field(ge=0)
    epsilon: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    # The contract's delta: the epsilon budget is spent in zCDP and read back as (epsilon, delta)-DP.
    delta: float = Field(default=1e-6, gt=0, lt=1, allow_inf_nan=False)


class Usage(BaseModel):
    """What a contract has consumed so far."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    jobs_run: int = Field(default=0, ge=0)
    epsilon_spent: float = Field(default=0.0, ge=0, allow_inf_nan=False)  # the jobs' epsilons, added up
    rho_spent: float = Field(default=0.0, ge=0, allow_inf_nan=False)  # what the budget is charged in


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    constraint: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    allowed: bool
    reasons: tuple[Reason, ...] = ()

    @classmethod
    def from_reasons(cls, reasons: Sequence[Reason]) -> Decision:
        return cls(allowed=not reasons, reasons=tuple(reasons))


Fact = tuple[str, ...] | float | datetime | None

_SUBJECTS: Mapping[ConstraintName, str] = {
    ConstraintName.BUYER: "buyer",
    ConstraintName.PURPOSE: "purpose",
    ConstraintName.DATASET: "dataset",
    ConstraintName.JOB_KIND: "job kind",
    ConstraintName.FIELDS: "measured fields",
    ConstraintName.FILTER_FIELDS: "filter fields",
    ConstraintName.GROUP_BY: "group-by field",
    ConstraintName.REGION: "buyer region",
    ConstraintName.QUERY_COUNT: "number of jobs",
    ConstraintName.EPSILON_BUDGET: "differential-privacy budget (epsilon)",
    ConstraintName.MIN_COHORT: "cohort (factories taking part, and the job's minimum participants)",
    ConstraintName.GRADE: "core-grade fields, which can never be used,",
    ConstraintName.PERSONAL_INFORMATION: "fields holding personal information, which can never be used,",
    ConstraintName.CROSS_BORDER: "important-grade fields, which a buyer outside CN cannot use,",
}


def evaluate_policy(policy: Policy, request: JobRequest, usage: Usage | None, now: datetime) -> list[Reason]:
    """Reasons the request breaks ``policy``: the best-matching permission's failures, then prohibitions.

    Without ``usage`` the budget constraints (query count, epsilon) are left out.
    """
    facts = _facts(request, usage, now)
    skipped = {ConstraintName.QUERY_COUNT, ConstraintName.EPSILON_BUDGET} if usage is None else set()
    best = [make_reason("permission", "the policy permits nothing")]
    for index, permission in enumerate(policy.permissions):
        failed = [
            reason
            for constraint in permission.constraints
            if constraint.left_operand not in skipped and (reason := check(constraint, facts)) is not None
        ]
        if index == 0 or len(failed) < len(best):
            best = failed
    used = set(request.spec.used_fields())
    for prohibition in policy.prohibitions:
        hits = sorted(used & set(prohibition.target))
        if hits and all(check(c, facts) is None for c in prohibition.when):
            message = f"{_SUBJECTS.get(prohibition.name, prohibition.name)} are requested: {', '.join(hits)}"
            best.append(make_reason(prohibition.name, message, fields=hits))
    return best


def _facts(request: JobRequest, usage: Usage | None, now: datetime) -> dict[ConstraintName, Fact]:
    spec = request.spec
    facts: dict[ConstraintName, Fact] = {
        ConstraintName.BUYER: (request.buyer,),
        ConstraintName.PURPOSE: (request.purpose,),
        ConstraintName.DATASET: (spec.dataset,),
        ConstraintName.JOB_KIND: (str(spec.kind),),
        ConstraintName.FIELDS: tuple(spec.measured_fields()),
        ConstraintName.FILTER_FIELDS: tuple(dict.fromkeys(f.field for f in spec.filters)),
        ConstraintName.GROUP_BY: (spec.group_by,) if spec.group_by else (),
        ConstraintName.REGION: (request.region,),
        ConstraintName.VALIDITY_WINDOW: now.astimezone(UTC),
        # After dropouts the aggregate may cover only the job's minimum participants, so both must reach it.
        ConstraintName.MIN_COHORT: float(min(request.factories, spec.min_participants)),
    }
    if usage is not None:
        facts[ConstraintName.QUERY_COUNT] = float(usage.jobs_run + 1)
        facts[ConstraintName.EPSILON_BUDGET] = epsilon_after(request, usage)
    return facts


def check(constraint: Constraint, facts: Mapping[ConstraintName, Fact]) -> Reason | None:
    """The reason ``constraint`` fails for ``facts``, or None if it holds; unknown facts fail closed."""
    name = constraint.left_operand
    fact = facts.get(name)
    if isinstance(constraint, SetConstraint) and isinstance(fact, tuple):
        return _check_set(constraint, fact)
    if isinstance(constraint, NumberConstraint) and (fact is None or isinstance(fact, float)):
        return _check_number(constraint, fact)
    if isinstance(constraint, TimeConstraint) and isinstance(fact, datetime):
        return _check_time(constraint, fact)
    return make_reason(name, f"constraint {name} cannot be evaluated for this request")


def _check_set(constraint: SetConstraint, fact: tuple[str, ...]) -> Reason | None:
    listed = constraint.right_operand
    inside = constraint.operator == "isNoneOf"
    offending = [value for value in fact if (value in listed) == inside]
    if not offending:
        return None
    name = constraint.left_operand
    verb = "among the forbidden" if inside else "outside the allowed"
    message = f"{_SUBJECTS.get(name, name)} {', '.join(offending)} {verb} {list(listed)}"
    return make_reason(
        name, message, requested=list(fact), offending=offending, **{constraint.operator: list(listed)}
    )


def _check_number(constraint: NumberConstraint, fact: float | None) -> Reason | None:
    name, limit, operator = constraint.left_operand, constraint.right_operand, constraint.operator
    subject = _SUBJECTS.get(name, name)
    if fact is None:
        message = f"the contract limits the {subject} to {limit:g}, and the job does not state its share"
    elif operator == "lteq" and fact > limit:
        message = f"the {subject} would reach {fact:g}, above the limit of {limit:g}"
    elif operator == "gteq" and fact < limit:
        message = f"the {subject} is {fact:g}, below the minimum of {limit:g}"
    else:
        return None
    return make_reason(name, message, value=fact, **{operator: limit})


def _check_time(constraint: TimeConstraint, now: datetime) -> Reason | None:
    bound, operator = constraint.right_operand, constraint.operator
    if operator == "gteq" and now < bound:
        message = f"the contract is not valid before {bound.isoformat()}"
    elif operator == "lt" and now >= bound:
        message = f"the contract expired at {bound.isoformat()}"
    else:
        return None
    return make_reason(constraint.left_operand, message, now=now.isoformat(), **{operator: bound.isoformat()})


def make_reason(constraint: str, message: str, **details: Any) -> Reason:
    """A ``Reason`` for ``constraint`` (a constraint or prohibition name, or a plain word)."""
    return Reason(constraint=str(constraint), message=message, details=details)


def epsilon_after(request: JobRequest, usage: Usage) -> float | None:
    """The contract's epsilon once this job ran: the zCDP costs compose by adding, read at the delta."""
    if request.epsilon is None:
        return None
    return epsilon_for(usage.rho_spent + rho_for(request.epsilon, request.delta), request.delta)
