"""A seeded corpus for measuring the detectors: generated positives, hand-made near misses, industrial values.

Positives come from Faker's zh_CN providers where it has them (resident IDs, mobiles, cards, e-mails,
plates, names), with some reformatted the way exports write them (+86, separators, card groups), and are
generated here for what Faker lacks (credit codes, 15-digit IDs, 19-digit UnionPay cards, green plates).
Shared by the precision/recall test and ``bench/detectors.py``.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker
from faker.providers.ssn.zh_CN import Provider as SsnProvider
from stdnum.cn import uscc

from contracts.detectors import Kind, find_identifiers
from contracts.detectors.checks import USCC_ALPHABET, organisation_code_check, ric_check_digit

AREA_CODES = tuple(code for code in SsnProvider.area_codes if not code.startswith("83"))
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
USCC_PREFIXES = (
    "91",
    "91",
    "91",
    "92",
    "93",
    "11",
    "12",
    "13",
    "19",
    "51",
    "52",
    "53",
    "31",
    "N1",
    "N2",
    "Y1",
)

# Values a factory's tables are full of; none holds an identifier.
INDUSTRIAL = (
    "B20240315-017", "LOT2403150017", "20240315-A-017", "21A01234", "C2403150123", "HN2403151234",
    "2024-03-15 08:30:00", "2024/03/15", "2024-03-15T08:30:00+08:00", "20240315083000", "20240315",
    "1710491400", "1710491400123", "08:30:00",
    "1523.4", "-12.5", "36.6", "1580", "0.85", "0.85MPa", "12.5kWh/t", "98.7%", "1.2e-3", "0", "12345",
    "Q235B", "Q345R", "HRB400E", "SUS304", "20CrMnTi", "45#", "SPCC", "DC01", "X70M", "GCr15", "316L",
    "SO-2024-000123", "PO202403150001", "2024031500012345", "202403150800000001", "ORD-88213-A",
    "EQ-0012", "CNC-07", "L1", "A", "B班", "白班", "1号线", "热轧", "冷轧", "连铸", "精炼",
    "1250*2.75", "Φ20×2000", "192.168.1.10", "v1.2.3", "¥12,345.00", "31.2304,121.4737",
    "550e8400-e29b-41d4-a716-446655440000", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "6901234567892", "MSKU1234565", "ISO 9001:2015", "GB/T 700-2006", "冷却水温度偏高，已调整",
    "2号高炉停机检修4小时", "合格", "不合格", "待检", "OK", "NG", "N/A", "-", "null",
)  # fmt: skip

# Values found in columns of operator and inspector names that are not names.
NOT_NAMES = (
    "未知", "无", "暂无", "待定", "系统", "自动", "机器人", "管理员", "admin", "system", "班长", "组长",
    "主管", "质检员", "操作员", "工程师", "技术员", "A班", "白班", "夜班", "甲班", "一组", "质检部",
    "生产部", "外协单位", "张", "欧阳娜娜娜", "N/A", "-", "1号机", "测试", "测试员", "自动检测", "在线检测",
)  # fmt: skip


@dataclass(frozen=True)
class Corpus:
    positives: dict[Kind, list[str]]
    near_misses: dict[Kind, list[str]]  # hand-made negatives of one kind
    industrial: tuple[str, ...] = INDUSTRIAL
    not_names: tuple[str, ...] = NOT_NAMES

    def negatives(self, kind: Kind) -> list[str]:
        """Near misses of ``kind``, industrial values, and every other kind's positives."""
        others = [v for k, values in self.positives.items() if k is not kind for v in values]
        extra = list(self.not_names) if kind is Kind.PERSON_NAME else []
        return [*self.near_misses.get(kind, []), *self.industrial, *extra, *others]


@dataclass(frozen=True)
class Score:
    tp: int
    fn: int
    fp: int
    tn: int
    missed: tuple[str, ...]
    false_alarms: tuple[str, ...]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


def detects(kind: Kind, value: str, today: date) -> bool:
    names = kind is Kind.PERSON_NAME
    return any(m.kind is kind for m in find_identifiers(value, today=today, names=names))


def score(kind: Kind, corpus: Corpus, today: date) -> Score:
    positives = corpus.positives[kind]
    negatives = corpus.negatives(kind)
    missed = tuple(v for v in positives if not detects(kind, v, today))
    false_alarms = tuple(v for v in negatives if detects(kind, v, today))
    return Score(
        tp=len(positives) - len(missed),
        fn=len(missed),
        fp=len(false_alarms),
        tn=len(negatives) - len(false_alarms),
        missed=missed,
        false_alarms=false_alarms,
    )


def build_corpus(seed: int, n: int, today: date) -> Corpus:
    """``n`` positives of every kind and the near misses derived from them, reproducible from ``seed``."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    positives = {
        Kind.RESIDENT_ID: [fake.ssn() for _ in range(n)],
        Kind.RESIDENT_ID_15: [legacy_id(rng) for _ in range(n)],
        Kind.MOBILE: [_reformat_mobile(fake.phone_number(), rng) for _ in range(n)],
        Kind.BANK_CARD: [_card(fake, rng) for _ in range(n)],
        Kind.USCC: [credit_code(rng) for _ in range(n)],
        Kind.EMAIL: [fake.email() for _ in range(n)],
        Kind.LICENCE_PLATE: [_plate(fake, rng) for _ in range(n)],
        Kind.PERSON_NAME: [fake.name() for _ in range(n)],
    }
    near: dict[Kind, list[str]] = {
        Kind.RESIDENT_ID: _near_resident_ids(positives[Kind.RESIDENT_ID], rng, today),
        Kind.RESIDENT_ID_15: _near_legacy_ids(rng, n),
        Kind.MOBILE: _near_mobiles(rng, n),
        Kind.BANK_CARD: _near_cards(positives[Kind.BANK_CARD], rng),
        Kind.USCC: _near_credit_codes(positives[Kind.USCC], rng),
        Kind.EMAIL: _near_emails(positives[Kind.EMAIL]),
        Kind.LICENCE_PLATE: _near_plates(rng, n),
    }
    return Corpus(positives=positives, near_misses=near)


# ------------------------------------------------------------------------------------------ generators


def digits(rng: random.Random, k: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(k))


def with_ric_check(body17: str) -> str:
    return body17 + ric_check_digit(body17)


def legacy_id(rng: random.Random) -> str:
    birth = date(1930, 1, 1) + timedelta(days=rng.randrange(25_000))
    return rng.choice(AREA_CODES) + birth.strftime("%y%m%d") + digits(rng, 3)


def credit_code(rng: random.Random) -> str:
    """A GB 32100 code: authority and category, a region, an organisation code with its GB 11714 check."""
    # Codes issued since 2015 carry organisation codes starting MA.
    modern = rng.random() < 0.3
    body8 = "MA" + "".join(rng.choice(USCC_ALPHABET) for _ in range(6)) if modern else digits(rng, 8)
    body17 = rng.choice(USCC_PREFIXES) + rng.choice(AREA_CODES) + body8 + organisation_code_check(body8)
    return body17 + uscc.calc_check_digit(body17)


def luhn_complete(body: str) -> str:
    for check in string.digits:
        candidate = body + check
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
            for i, d in enumerate(int(c) for c in reversed(candidate))
        )
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def _reformat_mobile(number: str, rng: random.Random) -> str:
    style = rng.randrange(8)
    if style == 0:
        return f"+86 {number[:3]} {number[3:7]} {number[7:]}"
    if style == 1:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if style == 2:
        return "0086" + number
    return number


def _card(fake: Faker, rng: random.Random) -> str:
    number = luhn_complete("62" + digits(rng, 16)) if rng.random() < 0.25 else str(fake.credit_card_number())
    if rng.random() < 0.2:
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def _plate(fake: Faker, rng: random.Random) -> str:
    style = rng.randrange(10)
    head = rng.choice(PLATE_PROVINCES) + rng.choice(PLATE_LETTERS)
    if style == 0:  # small new-energy plate
        return head + rng.choice("DF") + rng.choice(PLATE_LETTERS + string.digits) + digits(rng, 4)
    if style == 1:  # large new-energy plate
        return head + digits(rng, 5) + rng.choice("DF")
    if style == 2:
        return head + digits(rng, 3) + rng.choice(PLATE_LETTERS) + digits(rng, 1)
    return str(fake.license_plate())


# ------------------------------------------------------------------------------------------ near misses


def _near_resident_ids(valid: list[str], rng: random.Random, today: date) -> list[str]:
    near: list[str] = []
    for number in valid:
        wrong = rng.choice([c for c in "0123456789X" if c != number[17]])
        near += [number[:17] + wrong, number[:17], number + digits(rng, 1)]
    bad_dates = (
        "19901301",
        "19900230",
        "19900432",
        "18500101",
        "20991231",
        (today + timedelta(1)).strftime("%Y%m%d"),
    )
    for bad in bad_dates:
        for _ in range(max(1, len(valid) // 20)):
            near.append(with_ric_check(rng.choice(AREA_CODES) + bad + digits(rng, 3)))
    for province in ("00", "09", "20", "39", "66", "91", "99"):
        near.append(with_ric_check(province + digits(rng, 4) + "19900101" + digits(rng, 3)))
    return near


def _near_legacy_ids(rng: random.Random, n: int) -> list[str]:
    near = []
    for _ in range(n):
        code = rng.choice(AREA_CODES)
        near += [code + "901301" + digits(rng, 3), code + "900230" + digits(rng, 3), legacy_id(rng)[:14]]
        near.append("999999" + "900101" + digits(rng, 3))
    return near


def _near_mobiles(rng: random.Random, n: int) -> list[str]:
    near = []
    for _ in range(n):
        near.append(rng.choice("023456789") + digits(rng, 10))  # 11 digits, not led by 1
        near.append("1" + rng.choice("012") + digits(rng, 9))  # 10x, 11x, 12x
        near.append("1" + rng.choice("3456789") + digits(rng, 8))  # 10 digits
        near.append("1" + rng.choice("3456789") + digits(rng, 10))  # 12 digits
        near.append(f"0{rng.choice(['10', '21', '755', '512'])}-{digits(rng, 8)}")  # landline
    return near


def _near_cards(valid: list[str], rng: random.Random) -> list[str]:
    near = []
    for number in valid:
        plain = number.replace(" ", "")
        wrong = str((int(plain[-1]) + rng.randrange(1, 10)) % 10)
        near.append(plain[:-1] + wrong)  # Luhn fails
        near.append(luhn_complete(plain[:14]))  # 15 digits
        near.append(luhn_complete(plain + digits(rng, 3)))  # 20 digits
        near.append(luhn_complete("8986" + digits(rng, rng.choice((14, 15)))))  # SIM card ICCID
    return near


def _near_credit_codes(valid: list[str], rng: random.Random) -> list[str]:
    near = []
    for code in valid:
        wrong = rng.choice([c for c in USCC_ALPHABET if c != code[17]])
        near.append(code[:17] + wrong)
        near.append(code[:17])
        i = rng.randrange(8, 17)
        near.append(code[:i] + rng.choice("IOZSV") + code[i + 1 :])
    return near


def _near_emails(valid: list[str]) -> list[str]:
    near = []
    for address in valid[: max(1, len(valid) // 5)]:
        local, domain = address.split("@")
        near += [
            local + "@",
            "@" + domain,
            local + "@" + domain.split(".")[0],
            local + "@@" + domain,
            local + "#" + domain,
            local + "@" + domain.split(".")[0] + ".c",
            "www." + domain,
        ]
    return near


def _near_plates(rng: random.Random, n: int) -> list[str]:
    near = []
    for _ in range(n):
        province, letter = rng.choice(PLATE_PROVINCES), rng.choice(PLATE_LETTERS)
        near += [
            province + letter + digits(rng, 4),  # too short
            province + letter + digits(rng, 7),  # too long
            letter + province + digits(rng, 5),  # letter first
            province + digits(rng, 6),  # no issuing letter
            province + letter + "".join(rng.choice(PLATE_LETTERS) for _ in range(3)) + digits(rng, 2),
            rng.choice("北东南西中") + letter + digits(rng, 5),  # not a province abbreviation
        ]
    return near
