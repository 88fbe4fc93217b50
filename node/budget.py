"""The node's own ledger of what each contract has spent: the jobs it took part in and their privacy cost.

The coordinator counts usage too, but a node does not take its word: before computing, it charges the job
here and refuses a ticket that would run past the contract's query count or epsilon budget. A job seen
again (a coordinator restart requeues it) is not charged twice. Entries are JSON lines, appended.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from node.exceptions import JobRefused
from protocols.dp.accounting import epsilon_for


@dataclass(frozen=True)
class Limits:
    max_jobs: float | None
    epsilon_budget: float | None
    delta: float


class BudgetLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._spent: dict[str, dict[str, float]] = {}  # contract id -> job id -> rho
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._spent.setdefault(entry["contract_id"], {})[entry["job_id"]] = float(entry["rho"])

    def spent(self, contract_id: str) -> tuple[int, float]:
        """Jobs charged and the zCDP rho they spent under ``contract_id``."""
        jobs = self._spent.get(contract_id, {})
        return len(jobs), sum(jobs.values())

    def charge(self, contract_id: str, job_id: str, rho: float, limits: Limits) -> None:
        """Record the job under its contract, or raise ``JobRefused`` if that would break a limit."""
        with self._lock:
            jobs = self._spent.setdefault(contract_id, {})
            if job_id in jobs:
                return
            if limits.max_jobs is not None and len(jobs) + 1 > limits.max_jobs:
                raise JobRefused(
                    "query_count", f"this node already took part in {len(jobs)} jobs of {limits.max_jobs:g}"
                )
            if limits.epsilon_budget is not None:
                total = epsilon_for(sum(jobs.values()) + rho, limits.delta)
                if rho == 0 or total > limits.epsilon_budget:
                    raise JobRefused(
                        "epsilon_budget",
                        f"the job would bring epsilon to {total:.6g}, above the budget of "
                        f"{limits.epsilon_budget:g}"
                        if rho
                        else "the contract carries an epsilon budget and the job states no epsilon",
                    )
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"contract_id": contract_id, "job_id": job_id, "rho": rho}) + "\n")
            jobs[job_id] = rho
