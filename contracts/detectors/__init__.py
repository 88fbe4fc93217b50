"""Sensitive-data discovery: Chinese identifiers and other personal data in column values and names.

Everything runs offline and is pure: ``today`` (which bounds birth dates) is a parameter. The public API:

- ``find_identifiers(text, today=..., names=False)``: matches with exact positions in one text;
- ``match_column_name(name)``: what a column name says the column holds;
- ``scan_column`` / ``scan_table``: hit rates per detector and name matches, for ``contracts.grading``;
- ``find_personal_data(records or values, today=...)``: every raw identifier, for a release check.
"""

from contracts.detectors.columns import NameMatch, match_column_name, name_words
from contracts.detectors.kinds import Confidence, Kind, Match
from contracts.detectors.scan import (
    ColumnFinding,
    DetectorStat,
    Finding,
    as_text,
    find_personal_data,
    scan_column,
    scan_table,
)
from contracts.detectors.values import DETECTORS, PRIORITY, VALUE_KINDS, Detector, find_identifiers

__all__ = [
    "DETECTORS",
    "PRIORITY",
    "VALUE_KINDS",
    "ColumnFinding",
    "Confidence",
    "Detector",
    "DetectorStat",
    "Finding",
    "Kind",
    "Match",
    "NameMatch",
    "as_text",
    "find_identifiers",
    "find_personal_data",
    "match_column_name",
    "name_words",
    "scan_column",
    "scan_table",
]
