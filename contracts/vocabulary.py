"""Controlled vocabularies: semantic tags for fields, purposes of use, and the names of policy constraints.

They are versioned with the project; an offer naming a tag or purpose outside them is refused, so every
party reads them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from contracts.schema import FieldType

VOCABULARY_VERSION: Final = "2025.1"

# The buyer region that counts as domestic for cross-border rules (ISO 3166-1 alpha-2).
DOMESTIC_REGION: Final = "CN"

_NUMERIC = frozenset({FieldType.NUMBER, FieldType.INTEGER})
_CATEGORICAL = frozenset({FieldType.CATEGORY})
_LABEL = frozenset({FieldType.CATEGORY, FieldType.TEXT, FieldType.INTEGER})


@dataclass(frozen=True)
class Tag:
    """What a field means; ``personal`` tags describe information about a natural person."""

    name: str
    label_zh: str
    description: str
    field_types: frozenset[FieldType]
    personal: bool = False


@dataclass(frozen=True)
class Purpose:
    name: str
    label_zh: str
    description: str


def _tags(*items: Tag) -> Mapping[str, Tag]:
    return MappingProxyType({item.name: item for item in items})


TAGS: Final[Mapping[str, Tag]] = _tags(
    Tag("temperature", "温度", "process or ambient temperature", _NUMERIC),
    Tag("pressure", "压力", "process pressure", _NUMERIC),
    Tag("vibration", "振动", "vibration amplitude or velocity of equipment", _NUMERIC),
    Tag("speed", "速度", "line, spindle or conveyor speed", _NUMERIC),
    Tag("energy_consumption", "能耗", "energy used over a period or batch", _NUMERIC),
    Tag("energy_intensity", "单位产品能耗", "energy used per unit of output", _NUMERIC),
    Tag("water_consumption", "用水量", "water used over a period or batch", _NUMERIC),
    Tag("emission", "排放", "emission of CO2 or pollutants", _NUMERIC),
    Tag("throughput", "产量", "output per period", _NUMERIC),
    Tag("yield_rate", "良品率", "share of good units", _NUMERIC),
    Tag("defect_rate", "缺陷率", "share or count of defective units", _NUMERIC),
    Tag("scrap_rate", "废品率", "share of scrapped material", _NUMERIC),
    Tag("material_ratio", "物料配比", "share of one input material in a recipe", _NUMERIC),
    Tag("cost", "成本", "cost per unit or per batch", _NUMERIC),
    Tag("duration", "时长", "elapsed time of a step, batch or stoppage", _NUMERIC),
    Tag("cycle_time", "节拍", "time per produced unit", _NUMERIC),
    Tag("quantity", "数量", "a count of items, events or batches", _NUMERIC),
    Tag("power_factor", "功率因数", "ratio of real to apparent electrical power", _NUMERIC),
    Tag("production_line", "产线", "the production line a record belongs to", _CATEGORICAL),
    Tag("shift", "班次", "the work shift", _CATEGORICAL),
    Tag("process_step", "工序", "the process step", _CATEGORICAL),
    Tag("equipment_type", "设备类型", "the kind of machine", _CATEGORICAL),
    Tag("product_type", "产品类别", "the kind of product", _CATEGORICAL),
    Tag("material_grade", "材料牌号", "the grade of an input material", _CATEGORICAL),
    Tag("inspection_result", "检验结果", "the verdict of an inspection, such as pass or fail", _CATEGORICAL),
    Tag("timestamp", "时间戳", "when a record was taken", frozenset({FieldType.TIMESTAMP})),
    Tag("identifier", "标识符", "a batch, order or equipment identifier", _LABEL),
    Tag("free_text", "自由文本", "operator notes and other free text", frozenset({FieldType.TEXT})),
    Tag("person_name", "姓名", "name of a natural person", _LABEL, personal=True),
    Tag("phone_number", "电话号码", "telephone number of a natural person", _LABEL, personal=True),
    Tag("id_card_number", "身份证号", "resident identity card number", _LABEL, personal=True),
    Tag("employee_id", "工号", "employee number of a natural person", _LABEL, personal=True),
    Tag("email_address", "电子邮箱", "e-mail address of a natural person", _LABEL, personal=True),
)

PURPOSES: Final[Mapping[str, Purpose]] = MappingProxyType(
    {
        p.name: p
        for p in (
            Purpose("quality_improvement", "质量改进", "find causes of defects and scrap"),
            Purpose("energy_benchmarking", "能效对标", "compare energy use with peers"),
            Purpose("insurance_underwriting", "保险承保", "price industrial insurance"),
            Purpose("regulatory_reporting", "监管报送", "statistics owed to an authority"),
            Purpose("research", "科学研究", "academic or industrial research"),
            Purpose("predictive_maintenance", "预测性维护", "model equipment wear and failure"),
            Purpose("carbon_accounting", "碳核算", "account for emissions across a sector"),
            Purpose("supply_chain_planning", "供应链协同", "plan capacity and supply with partners"),
        )
    }
)


class ConstraintName(StrEnum):
    """Stable names of everything a decision can cite; part of the public API."""

    CONTRACT_STATE = "contract_state"
    PARTICIPANT = "participant"
    SIGNATURE = "signature"
    BUYER = "buyer"
    PURPOSE = "purpose"
    DATASET = "dataset"
    JOB_KIND = "job_kind"
    FIELDS = "fields"
    FILTER_FIELDS = "filter_fields"
    GROUP_BY = "group_by"
    VALIDITY_WINDOW = "validity_window"
    QUERY_COUNT = "query_count"
    EPSILON_BUDGET = "epsilon_budget"
    MIN_COHORT = "min_cohort"
    REGION = "region"
    CROSS_BORDER = "cross_border"
    GRADE = "grade"
    PERSONAL_INFORMATION = "personal_information"


def is_known_tag(name: str) -> bool:
    return name in TAGS


def is_known_purpose(name: str) -> bool:
    return name in PURPOSES
