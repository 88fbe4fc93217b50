"""``dataspace demand``: state a need, see the cohorts matching proposes, propose a contract over one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from coordinator.client.cli_common import CaOpt, DataDirOpt, InsecureOpt, JsonOpt, TokenOpt, UrlOpt, show
from coordinator.client.tables import cohorts_table, demands_table

demand_app = typer.Typer(help="State what you need; matching proposes cohorts of factories (buyer).",
                         no_args_is_help=True)  # fmt: skip


@demand_app.command("create")
def demand_create(
    tag: Annotated[list[str], typer.Option(help="A semantic tag the data must carry; repeatable.")],
    kind: Annotated[list[str], typer.Option(help="A job kind you will run; repeatable.")],
    purpose: Annotated[str, typer.Option(help="Why (one of the controlled purposes).")],
    region: Annotated[str, typer.Option(help="Your region, ISO 3166.")] = "CN",
    factories: Annotated[int, typer.Option(min=3, help="Fewest distinct factories.")] = 3,
    optional_tag: Annotated[list[str] | None, typer.Option(help="A tag that would be good to have.")] = None,
    max_price: Annotated[str | None, typer.Option(help="Most you pay in all, in CNY.")] = None,
    dataset: Annotated[str | None, typer.Option(help="The one dataset you want.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """State a need: tags, job kinds, purpose, region and how many factories."""
    demand: dict[str, Any] = {"tags": tag, "job_kinds": kind, "purpose": purpose, "region": region,
                              "min_factories": factories, "optional_tags": optional_tag or []}  # fmt: skip
    if max_price is not None:
        demand["max_total_price"] = max_price
    if dataset is not None:
        demand["dataset"] = dataset
    show(url, token, data_dir, as_json, lambda c: c.create_demand(demand), ca=ca, insecure_http=insecure_http)


@demand_app.command("list")
def demand_list(
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Your demands (a factory: the demands one of its offers fits; the operator: all)."""
    show(url, token, data_dir, as_json, lambda c: c.demands(), ca=ca, insecure_http=insecure_http,
         table=demands_table)  # fmt: skip


@demand_app.command("matches")
def demand_matches(
    demand_id: str,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """The cohorts of factories that serve the demand, best first, with why each ranks where it does."""
    show(url, token, data_dir, as_json, lambda c: c.demand_matches(demand_id, limit), ca=ca,
         insecure_http=insecure_http, table=cohorts_table)  # fmt: skip


@demand_app.command("propose")
def demand_propose(
    demand_id: str,
    rank: Annotated[int, typer.Option(min=1, max=100, help="Which proposed cohort (1 = best).")] = 1,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Propose a contract over a proposed cohort; then `dataspace contract agree ID` once factories offer."""
    show(url, token, data_dir, as_json, lambda c: c.propose_cohort(demand_id, rank), ca=ca,
         insecure_http=insecure_http)  # fmt: skip
