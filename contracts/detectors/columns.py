"""Column names that announce personal data or credit codes, in Chinese, English and pinyin abbreviations.

English names are split into lower-case words (``phoneNumber``, ``PHONE_NO`` and ``phone-number`` all give
``phone``, ``number``); a keyword matches a run of words, or one word that starts or ends with it when it
is at least five letters long (``idcardno``, ``mobileno``), so ``tel`` never matches ``hotel``. Chinese
keywords match anywhere in the name. Rules are tried in order and the first match wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict

from contracts.detectors.kinds import Kind

_WORDS: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_MIN_AFFIX: Final = 5


class NameMatch(BaseModel):
    """A column name says the column holds ``kind``; ``keyword`` is what said so."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    keyword: str


def name_words(name: str) -> tuple[str, ...]:
    """The lower-case ASCII words of a column name (CJK and punctuation separate words)."""
    return tuple(w.lower() for w in _WORDS.findall(name))


def keyword_end(name: str, keyword: str) -> int | None:
    """Where the last occurrence of ``keyword`` in the column name ends, or None if it does not occur.

    A keyword of CJK characters matches anywhere; one of ASCII words joined by "_" matches a run of the
    name's words, or a single word that starts or ends with it when it is at least five letters long.
    """
    if not keyword.isascii():
        at = name.rfind(keyword)
        return None if at < 0 else at + len(keyword)
    spans = [(m.group().lower(), m.end()) for m in _WORDS.finditer(name)]
    words = tuple(w for w, _ in spans)
    parts = tuple(keyword.split("_"))
    n = len(parts)
    joined = "".join(parts)
    ends = [spans[i + n - 1][1] for i in range(len(words) - n + 1) if words[i : i + n] == parts]
    if len(joined) >= _MIN_AFFIX:
        ends += [end for w, end in spans if w.startswith(joined) or w.endswith(joined)]
    return max(ends, default=None)


@dataclass(frozen=True)
class _Rule:
    kind: Kind
    chinese: tuple[str, ...]
    english: tuple[str, ...]  # words joined by "_"


def _rule(kind: Kind, chinese: str, english: str) -> _Rule:
    return _Rule(kind, tuple(chinese.split()), tuple(english.split()))


_RULES: Final = (
    _rule(
        Kind.RESIDENT_ID,
        "身份证 公民身份号码 证件号",
        "id_card identity_card identity_no identity_number citizen_id ssn sfz sfzh sfzhm shenfenzheng",
    ),
    _rule(
        Kind.USCC,
        "统一社会信用代码 社会信用代码 信用代码",
        "uscc credit_code social_credit tyshxydm",
    ),
    _rule(
        Kind.EMPLOYEE_ID,
        "工号 员工编号 员工号 职工号 工卡号",
        "employee_id employee_no employee_number emp_id emp_no staff_id staff_no worker_id worker_no "
        "operator_id operator_no inspector_id inspector_no user_id badge badge_no job_number gonghao",
    ),
    _rule(
        Kind.BANK_CARD,
        "银行卡 银行账号 银行帐号 卡号",
        "bank_card card_no card_number card_num bank_account iban yhk yhkh",
    ),
    # Not a bare "plate": in a rolling mill plate_no and plate_width describe steel plates.
    _rule(
        Kind.LICENCE_PLATE,
        "车牌 号牌",
        "license_plate licence_plate car_plate vehicle_plate number_plate truck_plate car_no car_number "
        "vehicle_no vehicle_number truck_no cph chepai",
    ),
    _rule(Kind.EMAIL, "邮箱 电子邮件 电邮 邮件地址", "email e_mail mail mailbox"),
    _rule(
        Kind.MOBILE,
        "手机 电话 联系方式",
        "phone mobile tel telephone cellphone cell_phone sjh sjhm lxdh",
    ),
    _rule(
        Kind.PERSON_NAME,
        "姓名 名字 人名 操作员 检验员 质检员 巡检员 操作人 检验人 负责人 联系人 经办人 审核人 录入人 "
        "填报人 驾驶员 司机",
        "username fullname firstname lastname realname surname nickname xingming",
    ),
)

# English head words naming a person: a column called ``operator`` or ``shift_inspector`` holds names.
_ROLE_WORDS: Final = (
    "operator inspector employee staff worker user customer contact driver person owner manager supervisor "
    "technician auditor approver reviewer recorder examiner checker foreman"
)
_PERSON_ROLES: Final = frozenset(_ROLE_WORDS.split())
_NAME_QUALIFIERS: Final = _PERSON_ROLES | frozenset(
    ("full", "first", "last", "given", "family", "real", "nick")
)


def match_column_name(name: str) -> NameMatch | None:
    """What the column name says the column holds, if it names personal data or credit codes."""
    for rule in _RULES:
        for keyword in rule.chinese + rule.english:
            if keyword_end(name, keyword) is not None:
                return NameMatch(kind=rule.kind, keyword=keyword)
    return _person_by_role(name_words(name))


def _person_by_role(words: tuple[str, ...]) -> NameMatch | None:
    # The head of an English compound is its last word: ``shift_operator`` is a person, ``customer_region``
    # is not. ``name`` names a person only on its own or after person words (``product_name`` is no person).
    if not words:
        return None
    head = words[-1]
    if head in _PERSON_ROLES:
        return NameMatch(kind=Kind.PERSON_NAME, keyword=head)
    if head == "name" and all(w in _NAME_QUALIFIERS for w in words[:-1]):
        return NameMatch(kind=Kind.PERSON_NAME, keyword="_".join(words))
    return None
