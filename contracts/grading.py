"""Proposed classification and grading of a dataset's fields, from what the detectors saw in them.

A proposal is advice for the factory publishing an offer, with the evidence and the rule that decided it.
The rules, in the spirit of GB/T 43697-2024 (data classification and grading) and, for personal
information, of the PIPL:

- ``core`` is never proposed. Core data is data whose compromise threatens national security, the
  lifelines of the economy or major public interests; it is designated from the sector authority's
  catalogue, which no content scan can see, so a factory raises a field to core by hand.
- Personal information (an identifier of a natural person found in the values, a column name announcing
  one, or a field declared personal) gives the personal flag and ``important``. Resident identity numbers
  and bank cards are sensitive personal information (PIPL art. 28) and are marked ``sensitive`` as well,
  but are not raised to core: GB/T 43697 grades by harm to the state and the public, which one factory's
  staff records do not reach, and offers already keep every personal field out of every job kind
  (``contracts.offers``), so a higher grade would change no enforcement and would misstate the standard.
- Unified social credit codes identify organisations, not persons: no personal flag, but ``important``,
  because a column of counterparties' codes maps the factory's supply chain.
- Everything else is ``general``: process parameters (temperatures, energy, rates, lines, shifts, ...)
  under the rule ``process_parameter``, anything else without sensitive evidence under
  ``no_sensitive_evidence``.

The semantic tag comes, in order, from the kind filling at least ``tag_rate`` of the values, the kind the
column name announces, keywords of the column name (the one nearest its end wins: ``equipment_id`` is an
identifier, ``line_speed`` a speed), a generic tag (``identifier`` for identifiers the vocabulary has no tag
for, ``free_text`` for text, ``timestamp`` for timestamps), or none. With a ``FieldSpec`` only tags that
describe its type are proposed, so a proposal always passes ``validate_offer``'s tag checks. The vocabulary
has no generic tag for numbers or categories; such fields get no tag and the factory picks one.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict

from contracts.detectors.columns import NameMatch, keyword_end
from contracts.detectors.kinds import Kind
from contracts.detectors.scan import ColumnFinding, DetectorStat
from contracts.offers import Grade
from contracts.schema import DatasetSchema, FieldSpec, FieldType
from contracts.vocabulary import TAGS

TAG_RATE: Final = 0.5
GENERIC_IDENTIFIER_TAG: Final = "identifier"


class Rule(StrEnum):
    """The rule that decided a proposal's grade; part of the public API, so never renamed."""

    SENSITIVE_PERSONAL_INFORMATION = "sensitive_personal_information"
    PERSONAL_INFORMATION = "personal_information"
    DECLARED_PERSONAL = "declared_personal"
    ORGANISATION_IDENTIFIER = "organisation_identifier"
    PROCESS_PARAMETER = "process_parameter"
    NO_SENSITIVE_EVIDENCE = "no_sensitive_evidence"


class Evidence(BaseModel):
    """What a proposal rests on: the detectors that hit (highest rate first) and the column name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detections: tuple[DetectorStat, ...]
    name_match: NameMatch | None
    tag_source: str  # "values", "column_name", "keyword:<keyword>", "generic" or "none"
    reasons: tuple[str, ...]


class FieldProposal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    grade: Grade
    personal: bool
    sensitive: bool
    tag: str | None
    rule: Rule
    evidence: Evidence


# (tag, keywords): Chinese ones match anywhere, English ones as words (see ``keyword_end``). Where two tags
# end at the same place, the earlier row wins (单位能耗 is an intensity before it is a consumption).
_TAG_KEYWORDS: Final = (
    ("energy_intensity", "单耗 单位能耗 吨钢能耗 energy_intensity specific_energy energy_per_unit kwh_per_t"),
    ("power_factor", "功率因数 power_factor cos_phi cosphi"),
    ("energy_consumption", "能耗 电耗 耗电 用电量 电量 气耗 energy kwh power_consumption electricity fuel"),
    ("water_consumption", "用水 水耗 耗水 water"),
    ("emission", "排放 碳排 二氧化碳 emission emissions co2 nox so2 carbon"),
    ("scrap_rate", "废品 报废 scrap"),
    ("defect_rate", "缺陷 不良 次品 defect defects reject"),
    ("yield_rate", "良品率 良率 合格率 成品率 收得率 yield pass_rate"),
    ("material_ratio", "配比 比例 占比 ratio proportion"),
    ("cost", "成本 费用 单价 cost price"),
    ("cycle_time", "节拍 cycle takt"),
    ("duration", "时长 停机 耗时 用时 duration downtime elapsed runtime lead_time"),
    ("temperature", "温度 炉温 temp temperature"),
    ("pressure", "压力 压强 pressure mpa kpa psi"),
    ("vibration", "振动 振幅 vibration vib"),
    ("speed", "速度 转速 线速 speed rpm velocity"),
    ("throughput", "产量 产能 throughput output tonnage"),
    ("quantity", "数量 件数 次数 个数 qty quantity count cnt pieces"),
    ("production_line", "产线 生产线 线别 line"),
    ("shift", "班次 班组 班别 shift"),
    ("process_step", "工序 工步 step stage"),
    ("equipment_type", "设备 机型 equipment machine device"),
    ("product_type", "产品 品种 product sku"),
    ("inspection_result", "检验结果 检测结果 判定 结论 result verdict outcome pass_fail"),
    ("material_grade", "牌号 钢种 材质 钢号 grade alloy material"),
    ("timestamp", "时间 日期 时刻 ts time timestamp date datetime"),
    ("identifier", "批次 批号 编号 单号 订单 炉号 卷号 id batch lot order serial sn code no"),
    ("free_text", "备注 说明 描述 意见 note notes remark remarks comment comments description memo"),
)
_PROCESS_TAGS: Final = frozenset(
    tag for tag, _ in _TAG_KEYWORDS if tag not in ("timestamp", "identifier", "free_text")
)


def propose(
    profile: ColumnFinding,
    spec: FieldSpec | None = None,
    *,
    tag_rate: float = TAG_RATE,
    min_hits: int = 1,
) -> FieldProposal:
    """Grade, personal flag and tag for one field, from its column profile and, if known, its declaration.

    A kind counts as present once ``min_hits`` values hold it (any raw identifier makes a column personal);
    it names the tag only when at least ``tag_rate`` of the non-empty values hold it.
    """
    if spec is not None and spec.name != profile.column:
        raise ValueError(f"profile of {profile.column!r} proposed for field {spec.name!r}")
    found = tuple(s for s in profile.hits() if s.hits >= min_hits)
    named = profile.name_match
    kinds = {s.kind for s in found} | ({named.kind} if named else set())
    personal_kinds = {k for k in kinds if k.personal}
    declared = spec is not None and spec.personal
    personal = bool(personal_kinds) or declared
    sensitive = any(k.sensitive for k in personal_kinds)
    tag, tag_source, tag_reason = _tag(profile, found, spec, tag_rate)
    rule, grade = _grade(personal_kinds, kinds, declared, tag)
    reasons = (*_kind_reasons(found, named), tag_reason)
    return FieldProposal(
        field=profile.column,
        grade=grade,
        personal=personal,
        sensitive=sensitive,
        tag=tag,
        rule=rule,
        evidence=Evidence(detections=found, name_match=named, tag_source=tag_source, reasons=reasons),
    )


def propose_table(
    profiles: Iterable[ColumnFinding], schema: DatasetSchema | None = None
) -> tuple[FieldProposal, ...]:
    """``propose`` for every profiled column, with its declaration where ``schema`` has the field."""
    return tuple(
        propose(p, schema.field(p.column) if schema is not None and schema.has_field(p.column) else None)
        for p in profiles
    )


def _grade(
    personal_kinds: set[Kind], kinds: set[Kind], declared: bool, tag: str | None
) -> tuple[Rule, Grade]:
    if any(k.sensitive for k in personal_kinds):
        return Rule.SENSITIVE_PERSONAL_INFORMATION, Grade.IMPORTANT
    if personal_kinds:
        return Rule.PERSONAL_INFORMATION, Grade.IMPORTANT
    if declared:
        return Rule.DECLARED_PERSONAL, Grade.IMPORTANT
    if Kind.USCC in kinds:
        return Rule.ORGANISATION_IDENTIFIER, Grade.IMPORTANT
    if tag in _PROCESS_TAGS:
        return Rule.PROCESS_PARAMETER, Grade.GENERAL
    return Rule.NO_SENSITIVE_EVIDENCE, Grade.GENERAL


def _tag(
    profile: ColumnFinding, found: tuple[DetectorStat, ...], spec: FieldSpec | None, tag_rate: float
) -> tuple[str | None, str, str]:
    """The tag, where it came from, and a sentence saying so."""
    dominant = next((s.kind for s in found if s.rate >= tag_rate), None)
    named = profile.name_match
    if dominant is not None and _fits(dominant.tag, spec):
        return dominant.tag, "values", f"{dominant.tag}: {dominant} fills at least {tag_rate:.0%} of values"
    if named is not None and _fits(named.kind.tag, spec):
        return named.kind.tag, "column_name", f"{named.kind.tag}: the column name says {named.kind}"
    for tag, keyword in _keyword_tags(profile.column):
        if _fits(tag, spec):
            return tag, f"keyword:{keyword}", f"{tag}: the column name contains {keyword!r}"
    identifier = dominant or (named.kind if named is not None else None)
    if identifier is not None and _fits(GENERIC_IDENTIFIER_TAG, spec):
        return (
            GENERIC_IDENTIFIER_TAG,
            "generic",
            f"{GENERIC_IDENTIFIER_TAG}: the vocabulary has no tag for {identifier}",
        )
    if spec is not None and spec.type in (FieldType.TEXT, FieldType.TIMESTAMP):
        tag = "free_text" if spec.type is FieldType.TEXT else "timestamp"
        return tag, "generic", f"{tag}: the generic tag of {spec.type} fields"
    return None, "none", "no tag: nothing in the values or the column name decides one"


def _fits(tag: str | None, spec: FieldSpec | None) -> bool:
    """Whether ``tag`` is in the vocabulary and describes fields of the declared type (any, undeclared)."""
    known = TAGS.get(tag) if tag is not None else None
    return known is not None and (spec is None or spec.type in known.field_types)


def _keyword_tags(column: str) -> list[tuple[str, str]]:
    """Tags whose keywords occur in the column name, the one ending last first (the head of a compound)."""
    hits: list[tuple[int, int, str, str]] = []
    for order, (tag, keywords) in enumerate(_TAG_KEYWORDS):
        ends = [(end, kw) for kw in keywords.split() if (end := keyword_end(column, kw)) is not None]
        if ends:
            end, keyword = max(ends)
            hits.append((-end, order, tag, keyword))
    return [(tag, keyword) for _, _, tag, keyword in sorted(hits)]


def _kind_reasons(found: tuple[DetectorStat, ...], named: NameMatch | None) -> tuple[str, ...]:
    reasons = [f"{s.kind}: {s.hits} values ({s.rate:.1%}), {s.whole} whole, {s.strong} strong" for s in found]
    if named is not None:
        reasons.append(f"the column name says {named.kind} ({named.keyword!r})")
    return tuple(reasons)


def tags_named(word: str) -> frozenset[str]:
    """The vocabulary tags a search word names: by the tag's name or Chinese label, or a column-name keyword.

    ``温度``, ``炉温``, ``temp`` and ``temperature`` all name ``temperature``; other words name none.
    """
    wanted = word.strip().casefold()
    if not wanted:
        return frozenset()
    found = {name for name, tag in TAGS.items() if wanted in (name, tag.label_zh.casefold())}
    found |= {tag for tag, keywords in _TAG_KEYWORDS if wanted in keywords.casefold().split()}
    return frozenset(found)
