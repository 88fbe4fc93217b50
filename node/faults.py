"""Fault injection for resilience tests: make a node process die at a chosen protocol step.

Set ``DATASPACE_NODE_FAULT`` to one of the names below before starting the node. Never set in production.
"""

from __future__ import annotations

import os
import time
from enum import StrEnum


class Fault(StrEnum):
    NONE = "none"
    EXIT_BEFORE_MASKED_INPUT = "exit_before_masked_input"
    EXIT_AFTER_MASKED_INPUT = "exit_after_masked_input"
    SLOW_MASKED_INPUT = "slow_masked_input"  # a slow machine: the run stays open for a few seconds


def configured_fault() -> Fault:
    return Fault(os.environ.get("DATASPACE_NODE_FAULT", Fault.NONE))


def die_if(active: Fault, point: Fault) -> None:
    if active is point:
        os._exit(17)  # abrupt, like a power cut: no goodbye to the coordinator


def stall_if(active: Fault, point: Fault, seconds: float = 4.0) -> None:
    if active is point:
        time.sleep(seconds)
