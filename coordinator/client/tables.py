"""How the CLI shows lists to people: one rich table per kind of thing; ``--json`` prints the data instead.

Each renderer takes what the gateway returned (JSON objects) and picks the columns a person scans for;
nothing here calls the gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table

Renderer = Callable[[Any], Table]


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    if not rows:
        table.caption = "(none)"
    return table


def _time(value: str | None) -> str:
    """An ISO time to the minute, in the zone it was given in."""
    return "" if not value else value.replace("T", " ")[:16]


def contracts_table(contracts: list[dict[str, Any]]) -> Table:
    rows = [
        (
            c["contract_id"],
            c["negotiation"]["stage"],
            c["purpose"],
            c["buyer"],
            len(c["providers"]),
            c["terms"]["dataset_schema"]["name"],
            _time(c["negotiation"]["history"][-1]["at"]),
        )
        for c in contracts
    ]
    columns = ("contract", "stage", "purpose", "buyer", "factories", "dataset", "last change")
    return _table("Contracts", columns, rows)


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    rows = [
        (
            j["id"],
            j["kind"],
            j["state"],
            j["spec"].get("dataset", ""),
            j.get("contract_id"),
            j.get("contributors"),
            _time(j["created_at"]),
            j.get("reason"),
        )
        for j in jobs
    ]
    columns = ("job", "kind", "state", "dataset", "contract", "factories", "submitted", "reason")
    return _table("Jobs", columns, rows)


def offers_table(offers: list[dict[str, Any]]) -> Table:
    rows = [
        (
            o["offer_id"],
            o["provider"],
            o["dataset"],
            ", ".join(o["allowed_job_kinds"]),
            ", ".join(o["allowed_purposes"]),
            o["min_cohort"],
            f"{o['price']['amount']} {o['price']['currency']}",
            _time(o["not_after"]),
            *_quality(o.get("quality")),
            "yes" if o.get("preview") else "",
        )
        for o in offers
    ]
    columns = ("offer", "factory", "dataset", "job kinds", "purposes", "min cohort", "price", "valid until",
               "rows", "complete", "valid", "updated", "preview")  # fmt: skip
    return _table("Offers", columns, rows)


def _quality(quality: dict[str, Any] | None) -> tuple[object, ...]:
    """Rows, completeness, validity and last update, as the factory's node measured them."""
    if not quality:
        return ("", "", "", "")
    return (
        f"~{quality['rows']:,}",
        f"{quality['completeness']:.2f}",
        f"{quality['validity']:.2f}",
        _time(quality.get("last_update")),
    )


def nodes_table(nodes: list[dict[str, Any]]) -> Table:
    rows = [
        (n["participant_id"], ", ".join(n["datasets"]), _time(n["connected_at"]), _time(n["last_seen"]))
        for n in nodes
    ]
    return _table("Connected nodes", ("factory", "datasets", "connected", "last seen"), rows)


def catalog_table(page: dict[str, Any]) -> Table:
    """A catalogue page: the offers table, titled with where the page lies in the whole result."""
    table = offers_table(page["offers"])
    shown = len(page["offers"])
    first = page["offset"] + 1 if shown else 0
    table.title = f"Catalogue: offers {first}–{page['offset'] + shown} of {page['total']}"
    return table


def demands_table(demands: list[dict[str, Any]]) -> Table:
    rows = [
        (
            d["demand_id"],
            ", ".join(d["demand"]["tags"]),
            ", ".join(d["demand"]["job_kinds"]),
            d["demand"]["purpose"],
            d["demand"]["region"],
            d["demand"]["min_factories"],
            d["demand"].get("max_total_price") or "",
            _time(d["created_at"]),
        )
        for d in demands
    ]
    columns = ("demand", "tags", "job kinds", "purpose", "region", "factories", "price cap", "created")
    return _table("Demands", columns, rows)


def cohorts_table(cohorts: list[dict[str, Any]]) -> Table:
    rows = [
        (
            c["rank"],
            f"{c['score']['total']:.2f}",
            ", ".join(c["offer_ids"]),
            ", ".join(f"{tag}={field}" for tag, field in c["fields"].items()),
            c["total_price"],
            _time(c["valid_until"]),
            "; ".join(c["score"]["explanation"]),
        )
        for c in cohorts
    ]
    columns = ("rank", "score", "offers", "fields", "price", "valid until", "why")
    return _table("Proposed cohorts (dataspace demand propose ID --rank N)", columns, rows)
