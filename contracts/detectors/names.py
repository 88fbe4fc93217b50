"""Whether a value looks like a Chinese personal name: 2-4 CJK characters led by a common surname.

The test is only meaningful in a column declared or named as holding names; on arbitrary text, two
characters after a common surname are as often a word as a name.
"""

from __future__ import annotations

import re
from typing import Final

from contracts.detectors.surnames import COMPOUND_SURNAMES, SINGLE_SURNAMES

_CJK: Final = re.compile(r"[\u4e00-\u9fff]{2,4}")

# Characters of roles, places and things that practically never occur in given names, so 白班, 高温 or
# 管理员 in an operator column are not taken for names.
_NOT_IN_GIVEN_NAMES: Final = frozenset(
    "班员间件品料属钢铜铁铝款机器线号库部组室厂段批次型类单率值测试检验报警统系务局所站表格态数据算"
    "管计划量温压度工师傅主任效待用户车辆设备产货仓炉窑阀泵罐箱装输规细职称级岗位轧铸锻焊炼镀淬熔浇"
)
# Whole values that pass the character test but name a role or say "nobody".
_ROLES_AND_NOBODY: Final = (
    "班长 组长 部长 科长 处长 队长 段长 工长 线长 主管 匿名 其他 未知 暂无 待定 无名 不详 本人"
)
_NOT_NAMES: Final = frozenset(_ROLES_AND_NOBODY.split())


def surnames_of(value: str) -> tuple[str, ...]:
    """The surnames ``value`` may start with, compound first (欧阳 before 欧)."""
    found = (value[:2],) if value[:2] in COMPOUND_SURNAMES else ()
    return (*found, value[:1]) if value[:1] in SINGLE_SURNAMES else found


def looks_like_name(value: str) -> bool:
    """2-4 CJK characters: a common surname and a one- or two-character given name."""
    if _CJK.fullmatch(value) is None or value in _NOT_NAMES:
        return False
    return any(_plausible_given_name(value[len(surname) :]) for surname in surnames_of(value))


def _plausible_given_name(given: str) -> bool:
    return 1 <= len(given) <= 2 and not any(c in _NOT_IN_GIVEN_NAMES for c in given)
