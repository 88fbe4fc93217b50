"""How a contract's extract grant shows in its policy: a permission of its own, and the personal-data rule.

An extract is permitted on the aggregate permission's terms (buyer, purpose, dataset, filters, window,
cohort, job count) but for the ``extract`` kind, over the fields the grant releases, without group-by and
without an epsilon budget: rows are protected by their rules and k-anonymity, not by noise. Personal fields
stay prohibited for every other kind; an extract may carry one only where a rule removes its content.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from contracts.extracts.grant import ExtractGrant
from contracts.jobspec import JobKind
from contracts.policy import Permission, Prohibition, SetConstraint
from contracts.vocabulary import ConstraintName

_EXTRACT = (str(JobKind.EXTRACT),)


def extract_permission(aggregate: Permission, grant: ExtractGrant) -> Permission:
    """The aggregate permission's constraints, for the extract kind over the fields ``grant`` releases."""
    replaced = {
        ConstraintName.JOB_KIND: _set(ConstraintName.JOB_KIND, "isAnyOf", _EXTRACT),
        ConstraintName.FIELDS: _set(ConstraintName.FIELDS, "isAnyOf", grant.releasable()),
        ConstraintName.GROUP_BY: _set(ConstraintName.GROUP_BY, "isAnyOf", ()),
    }
    constraints = [
        replaced.get(c.left_operand, c)
        for c in aggregate.constraints
        if c.left_operand is not ConstraintName.EPSILON_BUDGET
    ]
    return Permission(action="extract", target=aggregate.target, constraints=tuple(constraints))


def personal_prohibitions(personal: tuple[str, ...], grant: ExtractGrant | None) -> tuple[Prohibition, ...]:
    """No job uses a personal field; with a grant, an extract may release those a rule desensitizes."""
    name = ConstraintName.PERSONAL_INFORMATION
    if grant is None:
        return (Prohibition(name=name, target=personal),)
    desensitized = set(grant.releasable())
    return (
        Prohibition(name=name, target=personal, when=(_set(ConstraintName.JOB_KIND, "isNoneOf", _EXTRACT),)),
        Prohibition(
            name=name,
            target=tuple(field for field in personal if field not in desensitized),
            when=(_set(ConstraintName.JOB_KIND, "isAnyOf", _EXTRACT),),
        ),
    )


def _set(
    name: ConstraintName, operator: Literal["isAnyOf", "isNoneOf"], values: Iterable[str]
) -> SetConstraint:
    return SetConstraint(left_operand=name, operator=operator, right_operand=tuple(values))
