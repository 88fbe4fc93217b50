"""Extract terms in offers and contracts, the node's extract builder, and the coordinator's release check.

The builders at the top are shared with the coordinator's tests. Two properties are the point: whatever
rows, k, l and columns, an extract is k-anonymous (and l-diverse) on the quasi-identifiers it carries; and
whatever a grant says, no core- or important-grade field, and no personal field under a rule that keeps it,
ever appears in one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.agreement import compile_terms
from contracts.canonical import canonical
from contracts.desensitize import (
    FF1Rule,
    KeepRule,
    MaskRule,
    PseudonymRule,
    RuleSet,
    SuppressRule,
    derive_contract_key,
    flat_hierarchy,
    k_anonymity,
    l_diversity,
    rules_digest,
)
from contracts.detectors import Kind
from contracts.enforcement import evaluate
from contracts.exceptions import TermsError, TermsErrorCode
from contracts.extracts.build import build_extract, preview_scope, seal
from contracts.extracts.exceptions import ExtractError, ExtractSpecError, ExtractTermsError, ReleaseBlocked
from contracts.extracts.grant import ExtractGrant, extract_grant
from contracts.extracts.release import NodeUpload, check_preview, personal_data, release
from contracts.extracts.terms import ExtractTerms, QuasiIdentifier
from contracts.grades import Grade
from contracts.jobspec import JobSpec
from contracts.offers import DatasetOffer, validate_offer
from contracts.policy import JobRequest, Usage
from contracts.vocabulary import ConstraintName

from .test_offers import BUYER, NOW, PROVIDERS, draft, finalize, make_offer

TODAY = date(2025, 3, 1)
SECRET = bytes(range(32))
PHONE = "13812345678"  # a valid mainland mobile number
LINES, SHIFTS = ["L1", "L2", "L3"], ["A", "B", "C"]

EXTRACT: dict[str, Any] = {
    "rules": {
        "fields": {
            "line": {"op": "keep"},
            "shift": {"op": "keep"},
            "throughput": {"op": "keep"},
            "temp": {"op": "bucket", "width": 50},
            "operator_name": {"op": "pseudonym"},
            "ts": {"op": "date_shift", "entity_field": "operator_name", "max_days": 30},
        }
    },
    "quasi_identifiers": [
        {"field": "line"},
        {"field": "shift"},
        {"field": "throughput", "hierarchy": {"widths": [5, 10, 50]}},
    ],
    "k": 3,
}
RELEASABLE = ("line", "shift", "throughput", "temp", "operator_name", "ts")
EXTRACT_KINDS = ["count", "mean", "extract"]


def extract_offer(index: int = 0, extract: dict[str, Any] | None = None, **overrides: Any) -> DatasetOffer:
    kinds = overrides.pop("allowed_job_kinds", EXTRACT_KINDS)
    return make_offer(index, extract=extract or EXTRACT, allowed_job_kinds=kinds, **overrides)


def extract_offers(count: int = 3, **overrides: Any) -> list[DatasetOffer]:
    return [extract_offer(i, **overrides) for i in range(count)]


def grant(**changes: Any) -> ExtractGrant:
    found = extract_grant([extract_offer(0, extract=EXTRACT | changes)])
    assert found is not None
    return found


def row(i: int, **changes: Any) -> dict[str, object]:
    base: dict[str, object] = {
        "line": LINES[i % 3], "shift": SHIFTS[(i // 3) % 3], "throughput": float(i % 50),
        "temp": 1400.0 + (i * 37) % 400, "operator_name": f"王{i % 7}", "ts": f"2024-01-{1 + i % 28:02d}",
    }  # fmt: skip
    return base | changes


def build(rows: list[dict[str, object]], columns: tuple[str, ...] = RELEASABLE, **terms: Any) -> Any:
    key = derive_contract_key(SECRET, "ctr_1")
    return build_extract(rows, grant(**terms), columns, key, salt=b"s" * 16)


# --------------------------------------------------------------------------------------------- terms


def test_valid_extract_terms_pass_and_release_a_pseudonymized_personal_field() -> None:
    offer = extract_offer()
    validate_offer(offer)
    assert grant().releasable() == RELEASABLE
    assert grant().needs_removal == ("operator_name",)


def refused(changes: dict[str, Any], code: str) -> tuple[dict[str, Any], str]:
    return changes, code


RULES = EXTRACT["rules"]["fields"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        refused({"rules": {"fields": RULES | {"recipe": {"op": "keep"}}}}, "grade_not_releasable"),
        refused(
            {"rules": {"fields": RULES | {"energy": {"op": "bucket", "width": 10}}}}, "grade_not_releasable"
        ),
        refused({"rules": {"fields": RULES | {"operator_name": {"op": "keep"}}}}, "personal_field_kept"),
        refused({"rules": {"fields": RULES | {"operator_name": {"op": "mask"}}}}, "personal_field_kept"),
        refused({"rules": {"fields": RULES | {"note": {"op": "keep"}}}}, "personal_field_kept"),
        refused({"rules": {"fields": RULES | {"pressure": {"op": "keep"}}}}, "unknown_field"),
        refused({"quasi_identifiers": [{"field": "throughput"}]}, "bad_quasi_identifier"),
        refused({"quasi_identifiers": [{"field": "note"}]}, "bad_quasi_identifier"),
        refused({"quasi_identifiers": [{"field": "line"}, {"field": "line"}]}, "bad_quasi_identifier"),
        refused({"l": 2}, "bad_sensitive_field"),
        refused({"l": 2, "sensitive": "line"}, "bad_sensitive_field"),
        refused({"l": 2, "sensitive": "energy"}, "bad_sensitive_field"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_extract_terms_breaking_a_rule_are_refused(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(ExtractTermsError) as caught:
        validate_offer(extract_offer(extract=EXTRACT | changes))
    assert caught.value.code == code


def test_an_offer_without_extract_terms_serialises_as_before() -> None:
    assert "extract" not in make_offer().model_dump(mode="json")
    assert DatasetOffer.model_validate_json(extract_offer().model_dump_json()) == extract_offer()


# ------------------------------------------------------------------------------------------ contracts


def constraint(permission: Any, name: ConstraintName) -> Any:
    return next(c.right_operand for c in permission.constraints if c.left_operand is name)


def test_a_contract_copies_the_common_extract_terms_with_a_permission_of_their_own() -> None:
    terms = draft(extract_offers()).terms
    declared = extract_offer().extract
    assert terms.extract is not None and declared is not None
    assert terms.extract.terms.rules == declared.rules
    aggregate, extract = terms.policy.permissions
    assert (aggregate.action, extract.action) == ("aggregate", "extract")
    assert constraint(aggregate, ConstraintName.JOB_KIND) == ("count", "mean")
    assert constraint(extract, ConstraintName.JOB_KIND) == ("extract",)
    assert constraint(extract, ConstraintName.FIELDS) == RELEASABLE
    # The default hierarchy of a category quasi-identifier is written into the signed terms.
    assert all(q.hierarchy is not None for q in terms.extract.terms.quasi_identifiers)
    assert {d.action for d in terms.policy.duties} == {"records_only_desensitized", "delete_after"}


@pytest.mark.parametrize(
    "offers",
    [
        lambda: [*extract_offers(2), make_offer(2, allowed_job_kinds=EXTRACT_KINDS)],  # one declares none
        lambda: [*extract_offers(2), extract_offer(2, extract=EXTRACT | {"k": 5})],  # they differ
        lambda: [*extract_offers(2), extract_offer(2, allowed_job_kinds=["count", "mean"])],  # not allowed
    ],
    ids=["undeclared", "different", "kind_not_offered"],
)
def test_extract_is_granted_only_on_terms_every_offer_declares(offers: Any) -> None:
    contract = draft(offers())
    assert contract.terms.extract is None
    assert len(contract.terms.policy.permissions) == 1


def test_offers_allowing_only_an_extract_they_cannot_agree_on_have_no_common_kind() -> None:
    offers = [make_offer(i, allowed_job_kinds=["extract"]) for i in range(3)]
    with pytest.raises(TermsError) as caught:
        compile_terms(offers, BUYER, "research", "CN", NOW)
    assert caught.value.code == TermsErrorCode.NO_COMMON_JOB_KINDS.value


def decide(contract: Any, spec: dict[str, Any]) -> list[str]:
    request = JobRequest(
        spec=JobSpec.model_validate({"dataset": "plant", **spec}), buyer=BUYER, purpose="research",
        region="CN", factories=3,
    )  # fmt: skip
    return [r.constraint for r in evaluate(contract, request, Usage(), NOW).reasons]


def test_an_extract_needs_a_contract_that_names_it() -> None:
    spec = {"kind": "extract", "columns": ["temp"]}
    assert decide(finalize(draft(extract_offers())), spec) == []
    assert decide(finalize(draft()), spec) == [ConstraintName.JOB_KIND, "extract"]


@pytest.mark.parametrize(
    ("spec", "reasons"),
    [
        ({"kind": "extract", "columns": ["line", "energy"]}, [ConstraintName.FIELDS, "extract"]),
        (
            {"kind": "extract", "columns": ["recipe"]},
            [ConstraintName.FIELDS, ConstraintName.GRADE, "extract"],
        ),
        ({"kind": "extract", "columns": ["line", "line"]}, ["extract"]),
        (
            {
                "kind": "extract",
                "columns": ["line"],
                "filters": [{"field": "operator_name", "op": "eq", "value": "王1"}],
            },
            [ConstraintName.FILTER_FIELDS],
        ),
        (
            {"kind": "mean", "field": "operator_name"},
            [ConstraintName.FIELDS, ConstraintName.PERSONAL_INFORMATION],
        ),
    ],
    ids=["important", "core", "twice", "personal_filter", "personal_aggregate"],
)
def test_an_extract_contract_still_refuses_what_must_not_leave(
    spec: dict[str, Any], reasons: list[str]
) -> None:
    assert decide(finalize(draft(extract_offers())), spec) == reasons


# -------------------------------------------------------------------------------------------- builder


def test_an_extract_is_desensitized_and_k_anonymous() -> None:
    built = build([row(i) for i in range(60)])
    assert built.rows and all(set(r) == set(RELEASABLE) for r in built.rows)
    assert all(r["operator_name"] != f"王{i}" for r in built.rows for i in range(7))
    assert {r["temp"] for r in built.rows} <= {f"[{t}, {t + 50})" for t in range(1400, 1800, 50)}
    assert k_anonymity(built.rows, ["line", "shift", "throughput"]) >= 3
    receipt = built.receipt
    assert (
        receipt.rows == len(built.rows)
        and receipt.output_digest == hashlib.sha256(built.rows_json).hexdigest()
    )
    assert receipt.rules_digest == rules_digest(grant().terms.rules)
    assert receipt.operators["operator_name"] == ("pseudonym",) and receipt.k >= 3
    assert built.rows == sorted(built.rows, key=canonical)


def test_rows_without_a_quasi_identifier_are_never_released() -> None:
    built = build([row(i, throughput=None if i % 2 else float(i % 50)) for i in range(60)])
    assert built.receipt.incomplete == 30 and all(r["throughput"] is not None for r in built.rows)


def test_too_few_rows_for_k_release_nothing() -> None:
    built = build([row(0), row(1)], k=5)
    assert built.rows == [] and built.receipt.suppressed == 2 and built.receipt.k == 0


ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "line": st.sampled_from(LINES),
            "shift": st.sampled_from(SHIFTS),
            "throughput": st.none() | st.floats(0, 50, allow_nan=False),
            "temp": st.floats(1400, 1800, allow_nan=False),
            "operator_name": st.sampled_from(["王伟", "李娜", "张敏", "刘洋"]),
            "ts": st.dates(date(2023, 1, 1), date(2024, 12, 31)).map(date.isoformat),
        }
    ),
    max_size=80,
)


@settings(max_examples=80, deadline=None)
@given(
    rows=ROWS,
    k=st.integers(2, 8),
    diverse=st.booleans(),
    columns=st.lists(st.sampled_from(RELEASABLE), min_size=1, unique=True),
    suppression=st.sampled_from([0.0, 0.05, 0.3]),
)
def test_every_extract_is_k_anonymous_on_its_quasi_identifiers(
    rows: list[dict[str, object]], k: int, diverse: bool, columns: list[str], suppression: float
) -> None:
    terms: dict[str, Any] = {"k": k, "max_suppression": suppression}
    if diverse:
        terms |= {"l": 2, "sensitive": "temp"}
    built = build(rows, tuple(columns), **terms)
    qis = [q for q in ("line", "shift", "throughput") if q in columns]
    assert all(set(r) == set(columns) for r in built.rows)
    if built.rows:
        reached = k_anonymity(built.rows, qis) if qis else len(built.rows)
        assert reached >= k and built.receipt.k == reached
        if diverse and "temp" in columns:
            assert l_diversity(built.rows, qis, "temp") >= 2
    assert built.receipt.rows + built.receipt.suppressed + built.receipt.incomplete == len(rows)


FIELDS = ("zone", "a", "b", "c", "d")
RULE_CHOICES = [KeepRule(), MaskRule(keep_last=2), PseudonymRule(), SuppressRule(), SuppressRule(mode="drop")]


@settings(max_examples=150, deadline=None)
@given(
    grades=st.fixed_dictionaries({name: st.sampled_from(list(Grade)) for name in FIELDS}),
    rules=st.fixed_dictionaries({name: st.sampled_from(RULE_CHOICES) for name in FIELDS[1:]}),
    removal=st.sets(st.sampled_from(FIELDS)),
    columns=st.lists(st.sampled_from(FIELDS), min_size=1, unique=True),
)
def test_no_core_or_important_field_ever_appears_in_an_extract(
    grades: dict[str, Grade], rules: dict[str, Any], removal: set[str], columns: list[str]
) -> None:
    """Grants are made by hand here, as a dishonest coordinator could write them: the builder refuses."""
    forged = ExtractGrant(
        terms=ExtractTerms(
            rules=RuleSet(fields={"zone": KeepRule(), **rules}),
            quasi_identifiers=(QuasiIdentifier(field="zone", hierarchy=flat_hierarchy(["n", "s"])),),
            k=2,
        ),
        grades=grades,
        needs_removal=tuple(sorted(removal)),
    )
    rows = [{"zone": "ns"[i % 2], **{name: f"v{i}" for name in FIELDS[1:]}} for i in range(12)]
    key = derive_contract_key(SECRET, "ctr_forged")
    try:
        built = build_extract(rows, forged, columns, key, salt=b"")
    except ExtractSpecError:
        return
    for name in columns:
        assert grades[name] is Grade.GENERAL
        rule = forged.terms.rules.fields[name]
        assert rule != SuppressRule(mode="drop")
        assert name not in removal or rule.op in {"pseudonym", "suppress"}
    assert all(grades[name] is Grade.GENERAL for r in built.rows for name in r)


# ------------------------------------------------------------------------------------ release check


def upload(built: Any) -> NodeUpload:
    return NodeUpload(built.rows_json, canonical(built.receipt.model_dump(mode="json")))


def uploads(count: int = 3, columns: tuple[str, ...] = RELEASABLE) -> dict[str, NodeUpload]:
    return {PROVIDERS[n]: upload(build([row(i + 7 * n) for i in range(40)], columns)) for n in range(count)}


def test_clean_extracts_are_merged_and_stay_k_anonymous() -> None:
    released = release(uploads(), grant(), RELEASABLE, "ctr_1", today=TODAY)
    assert len(released.rows) == sum(r.rows for r in released.receipts.values())
    assert released.k >= 3 and released.rows == sorted(released.rows, key=canonical)


def planted(column: str, value: object) -> NodeUpload:
    built = build([row(i) for i in range(40)])
    rows = [dict(r) for r in built.rows]
    rows[0][column] = value
    return upload(seal(rows, built.receipt))  # a consistent receipt: only the scan can catch it


@pytest.mark.parametrize("column", ["line", "temp", "operator_name", "ts"])
def test_a_raw_phone_number_in_any_column_blocks_the_release(column: str) -> None:
    tampered = uploads() | {PROVIDERS[1]: planted(column, f"电话 {PHONE}")}
    with pytest.raises(ReleaseBlocked) as caught:
        release(tampered, grant(), RELEASABLE, "ctr_1", today=TODAY)
    error = caught.value
    assert error.code == "personal_data_detected"
    assert (error.details["node"], error.details["field"], error.details["kind"]) == (
        PROVIDERS[1],
        column,
        "mobile",
    )
    assert PHONE not in str(error) and PHONE not in repr(error.details)


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda u: NodeUpload(u.rows.replace(b'"L1"', b'"L9"', 1), u.receipt), "receipt_mismatch"),
        (lambda u: NodeUpload(u.rows + b" ", u.receipt), "malformed_extract"),
        (lambda u: NodeUpload(b"[]", u.receipt), "receipt_mismatch"),
        (lambda u: NodeUpload(u.rows, b"{}"), "malformed_extract"),
    ],
    ids=["edited_row", "not_canonical", "rows_dropped", "no_receipt"],
)
def test_an_extract_that_does_not_match_its_receipt_is_blocked(tamper: Any, code: str) -> None:
    tampered = uploads()
    tampered[PROVIDERS[0]] = tamper(tampered[PROVIDERS[0]])
    with pytest.raises(ReleaseBlocked) as caught:
        release(tampered, grant(), RELEASABLE, "ctr_1", today=TODAY)
    assert caught.value.code == code


def test_a_class_below_k_is_blocked_even_with_a_consistent_receipt() -> None:
    built = build([row(i) for i in range(40)])
    lonely = [*built.rows, {**built.rows[0], "line": "L9"}]
    tampered = uploads() | {PROVIDERS[2]: upload(seal(lonely, built.receipt))}
    with pytest.raises(ReleaseBlocked) as caught:
        release(tampered, grant(), RELEASABLE, "ctr_1", today=TODAY)
    assert caught.value.code == "not_k_anonymous" and caught.value.details["node"] == PROVIDERS[2]


def test_extra_columns_or_another_contracts_receipt_are_blocked() -> None:
    with pytest.raises(ReleaseBlocked) as extra:
        release(uploads(), grant(), ("line", "shift"), "ctr_1", today=TODAY)
    with pytest.raises(ReleaseBlocked) as other:
        release(uploads(), grant(), RELEASABLE, "ctr_2", today=TODAY)
    assert (extra.value.code, other.value.code) == ("malformed_extract", "receipt_mismatch")


def with_badge(rule: Any) -> ExtractGrant:
    """The test grant plus a general-grade personal field ``badge`` under ``rule``."""
    base = grant()
    terms = base.terms.model_copy(
        update={"rules": RuleSet(fields={**base.terms.rules.fields, "badge": rule})}
    )
    return base.model_copy(
        update={
            "terms": terms,
            "grades": base.grades | {"badge": Grade.GENERAL},
            "needs_removal": (*base.needs_removal, "badge"),
        }
    )


def test_ff1_surrogates_of_identifiers_are_expected_where_the_rule_makes_them() -> None:
    surrogates = with_badge(FF1Rule(format="resident_id"))
    ids = ["11010519491231002X", "440524188001010014"]
    rows = [{**row(i), "badge": ids[i % 2]} for i in range(40)]
    columns = (*RELEASABLE, "badge")
    built = build_extract(rows, surrogates, columns, derive_contract_key(SECRET, "ctr_1"), salt=b"")
    assert all(r["badge"] not in ids for r in built.rows)
    assert personal_data(built.rows, surrogates, today=TODAY) == []
    release({PROVIDERS[0]: upload(built)}, surrogates, columns, "ctr_1", today=TODAY)
    # The same surrogates in a field whose rule is not FF1 read as identity numbers.
    found = personal_data(built.rows, with_badge(PseudonymRule()), today=TODAY)
    assert {(f.column, f.kind) for f in found} == {("badge", Kind.RESIDENT_ID)}


def test_a_preview_is_checked_like_an_extract() -> None:
    key = derive_contract_key(SECRET, preview_scope("offer-0"))
    built = build_extract([row(i) for i in range(40)], grant(), RELEASABLE, key, salt=secrets.token_bytes(16))
    shown = built.rows[:5]
    receipt = built.receipt.model_copy(
        update={"rows": 5, "output_digest": hashlib.sha256(canonical(shown)).hexdigest()}
    )
    document = {"rows": shown, "receipt": receipt.model_dump(mode="json")}
    rows, _ = check_preview(PROVIDERS[0], "offer-0", grant(), canonical(document), today=TODAY)
    assert rows == shown
    leaked = sorted([{**shown[0], "line": PHONE}, *shown[1:]], key=canonical)
    resealed = receipt.model_copy(update={"output_digest": hashlib.sha256(canonical(leaked)).hexdigest()})
    leaky = {"rows": leaked, "receipt": resealed.model_dump(mode="json")}
    with pytest.raises(ExtractError) as caught:
        check_preview(PROVIDERS[0], "offer-0", grant(), canonical(leaky), today=TODAY)
    assert caught.value.code == "personal_data_detected" and caught.value.details["field"] == "line"
