"""The ``dataspace-node`` command for factories: set up, enroll, run, and inspect the node."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from node.exceptions import (
    CertificateRefusedError,
    ConfigError,
    DataError,
    EnrollmentError,
    NoUsableDatasetError,
)

app = typer.Typer(help="Run a factory node of the industrial data space.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

NodeDirOpt = Annotated[Path, typer.Option("--dir", envvar="DATASPACE_NODE_DIR", help="Node directory.")]
CONFIG_NAME = "node.toml"


def _profile_option(value: str | None) -> str | None:
    from node.sampledata import UnknownProfileError, check_profile

    try:
        return None if value is None else check_profile(value)
    except UnknownProfileError as exc:
        raise typer.BadParameter(str(exc)) from None


ProfileOpt = Annotated[
    str | None,
    typer.Option(
        callback=_profile_option,
        help="Sample-data profile describing the --dataset files (default steel); for trying the space out.",
    ),
]


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory for the node's config, keys and journal.")],
    participant_id: Annotated[str, typer.Option(help="Your organisation's unified social credit code.")],
    name: Annotated[str, typer.Option(help="A readable name for this factory.")] = "factory",
    data: Annotated[
        list[str] | None,
        typer.Option(
            help="[NAME=]FILE: your own CSV/Parquet file, described from its columns; repeatable "
            "(files under one NAME form one dataset)."
        ),
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option(help="NAME=PATH of a sample-data file (see --profile); repeatable.")
    ] = None,
    profile: ProfileOpt = None,
    accept_buyer: Annotated[
        list[str] | None, typer.Option(help="Buyer id whose jobs are accepted ('*' for any); repeatable.")
    ] = None,
    auto_approve: Annotated[
        list[str] | None,
        typer.Option(help="Buyer id whose contract proposals are signed without asking; repeatable."),
    ] = None,
    sample_rows: Annotated[int, typer.Option(min=100, help="Rows the personal-data detectors read.")] = 5000,
    force: Annotated[bool, typer.Option(help="Overwrite an existing config.")] = False,
) -> None:
    """Write a commented node config (TOML) naming the datasets and what the node accepts.

    For --data files the types, bounds, categories, grades, personal flags and tags are proposed from the
    data and marked `proposed` in the config, with the evidence as comments: check them, then run
    `dataspace-node confirm DATASET`. Paths are written relative to DIRECTORY.
    """
    from datetime import date

    from contracts.identity import InvalidParticipantIdError, validate_participant_id
    from contracts.jobspec import JobKind
    from node.config_render import render_config
    from node.onboarding import (
        draft_from_inference,
        draft_from_profile,
        grouped,
        infer_from_files,
        render_inference,
    )

    try:
        participant_id = validate_participant_id(participant_id)
    except InvalidParticipantIdError as exc:
        raise typer.BadParameter(str(exc)) from None
    target = directory / CONFIG_NAME
    if target.exists() and not force:
        err_console.print(f"[red]{target} exists[/red]; use --force to overwrite")
        raise typer.Exit(1)
    if profile is not None and not dataset:
        err_console.print(f"[yellow]note[/yellow] --profile {profile} describes --dataset files only")
    drafts, inferred = [], []
    try:
        for ds_name, paths in grouped(dataset or [], option="--dataset", named=True).items():
            drafts.append(draft_from_profile(ds_name, paths, directory, profile or "steel"))
        taken = [d.name for d in drafts]
        for ds_name, paths in grouped(data or [], option="--data", named=False).items():
            if ds_name in taken:
                raise ConfigError(f"dataset name {ds_name} is used twice")
            found = infer_from_files(ds_name, paths, today=date.today(), sample_rows=sample_rows)
            inferred.append(found)
            drafts.append(draft_from_inference(found, paths, directory))
        text = render_config(
            node_name=name,
            participant_id=participant_id,
            datasets=drafts,
            accept=[(buyer, list(JobKind)) for buyer in (accept_buyer or [])],
            auto_approve=auto_approve or [],
        )
    except (ConfigError, ValueError) as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    console.print(f"wrote {target}")
    for found in inferred:
        render_inference(console, found)
    if not drafts:
        console.print(
            "no dataset configured: add --data FILE for your own files "
            "(or --dataset NAME=FILE with sample data from `dataspace-node sample-data`)"
        )


@app.command()
def enroll(
    coordinator: Annotated[
        str, typer.Option(help="Gateway of the coordinator: https://HOST:PORT, or HOST:PORT for https.")
    ],
    token: Annotated[str, typer.Option(help="One-time enrollment token from the operator.")],
    node_dir: NodeDirOpt = Path("."),
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http", help="Allow an http:// gateway: the token travels in clear. Experiments only."
        ),
    ] = False,
) -> None:
    """Generate this node's key, get it certified by the operator CA, pin the CA and the coordinator's keys.

    The CA is trusted only if it matches the pin in the token, and the reply only if the operator signed it.
    """
    from datetime import UTC, datetime

    from node.config import load_config
    from node.identity import enroll as do_enroll

    try:
        config = load_config(node_dir / CONFIG_NAME)
        identity = do_enroll(node_dir, coordinator, token, now=datetime.now(UTC), insecure_http=insecure_http)
    except (ConfigError, EnrollmentError) as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    if identity.participant_id != config.participant_id:
        err_console.print(
            f"[yellow]warning[/yellow] enrolled as {identity.participant_id}, "
            f"config says {config.participant_id}"
        )
    console.print(f"enrolled {identity.participant_id}; coordinator at {identity.grpc_target}")


@app.command()
def run(node_dir: NodeDirOpt = Path(".")) -> None:
    """Dial out to the coordinator and take part in jobs until stopped (Ctrl-C).

    At start every dataset is checked as `check` does; one whose files are not usable is not offered, and
    when none is usable the node does not start (exit 2). A node whose certificate the coordinator refuses
    (revoked or superseded) stops with exit 3: only a new enrollment helps.
    """
    from node.agent import run_agent

    logging.basicConfig(
        level=os.environ.get("DATASPACE_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    try:
        asyncio.run(run_agent(node_dir))
    except (ConfigError, EnrollmentError, NoUsableDatasetError) as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    except CertificateRefusedError as exc:
        err_console.print(f"[red]stopped[/red] {exc}")
        raise typer.Exit(3) from None


@app.command()
def check(
    dataset: Annotated[list[str] | None, typer.Argument(help="Datasets to check (default: all).")] = None,
    node_dir: NodeDirOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check each dataset's files against its declared schema; exit 0 when all are usable, 1 when not.

    Per file: present, not empty, every declared field in the header, the last line whole, every line UTF-8
    with one cell per column; the rows; per field the shares of missing cells, of cells that do not parse
    as its type and (numbers) of values outside the declared bounds.
    """
    from node.config import load_config
    from node.datacheck import check_dataset, render

    try:
        config = load_config(node_dir / CONFIG_NAME)
        chosen = [config.dataset(name) for name in dataset] if dataset else config.datasets
    except ConfigError as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    reports = [check_dataset(item) for item in chosen]
    usable = all(report.usable for report in reports)
    if as_json:
        print(json.dumps({"usable": usable, "datasets": [r.to_json() for r in reports]}, ensure_ascii=False))
    else:
        print(render(reports) if reports else "(no datasets configured)")
    raise typer.Exit(0 if usable else 1)


@app.command()
def publish(
    dataset: Annotated[str, typer.Argument(help="Name of a dataset in the node config.")],
    terms: Annotated[
        Path | None, typer.Option(help="TOML terms file (see the README); options given override it.")
    ] = None,
    purpose: Annotated[list[str] | None, typer.Option(help="Allowed purpose; repeatable.")] = None,
    region: Annotated[
        list[str] | None, typer.Option(help="Allowed buyer region (ISO 3166); repeatable (default CN).")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            help="Allowed job kind; repeatable (default: every statistic; extract and "
            "encrypted_scoring only when named)."
        ),
    ] = None,
    min_cohort: Annotated[
        int | None, typer.Option(help="Fewest distinct factories in any result (3).")
    ] = None,
    max_jobs: Annotated[int | None, typer.Option(help="Most jobs a contract may run (100).")] = None,
    epsilon: Annotated[float | None, typer.Option(help="Differential-privacy budget, if any.")] = None,
    min_rows: Annotated[
        int | None, typer.Option(help="Fewest rows of this factory behind any cell it contributes to (10).")
    ] = None,
    min_cell_rows: Annotated[
        int | None, typer.Option(help="Fewest rows behind any released cell (30).")
    ] = None,
    noise: Annotated[
        str | None, typer.Option(help="Where DP noise is added: 'distributed' (by nodes) or 'central'.")
    ] = None,
    delta: Annotated[float | None, typer.Option(help="The delta of the epsilon budget (1e-6).")] = None,
    valid_days: Annotated[float | None, typer.Option(help="Days the offer stays valid (365).")] = None,
    price: Annotated[str | None, typer.Option(help="Price in CNY (0).")] = None,
    extract: Annotated[
        Path | None,
        typer.Option(help="Extract terms (TOML or JSON): rules, quasi-identifiers, k; overrides [extract]."),
    ] = None,
    node_dir: NodeDirOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Publish a dataset offer: the public schema and the terms under which jobs may use it.

    Only a dataset whose files carry its declared columns and types (see `check`) and whose grades, tags
    and other proposed values are confirmed in node.toml is published. With extract terms the offer
    allows desensitized record-level extracts and is published with a preview of a few such rows.
    """
    from node.publishing import publish_offer
    from node.terms import TermsFile, check_filters, offer_terms, read_extract_terms, read_terms

    options = {"purposes": purpose, "regions": region, "kinds": kind, "min_cohort": min_cohort,
               "max_jobs": max_jobs, "epsilon": epsilon, "min_rows": min_rows, "min_cell_rows": min_cell_rows,
               "noise": noise, "delta": delta, "valid_days": valid_days, "price": price}  # fmt: skip
    try:
        file = read_terms(terms) if terms is not None else TermsFile()
        offer_terms_ = offer_terms(file, options)
        if file.filters:
            from node.config import load_config

            check_filters(file.filters, load_config(node_dir / CONFIG_NAME).dataset(dataset).schema)
        extract_terms = read_extract_terms(extract) if extract is not None else file.extract
        offer, preview = publish_offer(
            node_dir,
            dataset,
            offer_terms_,
            lambda text: err_console.print(f"[yellow]{text}"),
            extract=extract_terms,
        )
    except Exception as exc:  # every refusal reaches the factory as one readable line
        err_console.print(f"[red]offer refused[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        shown = {"offer_id": offer.offer_id, "preview": preview.rows if preview is not None else None}
        print(json.dumps(shown, ensure_ascii=False))
        return
    print(f"published {offer.offer_id}")
    if preview is not None:
        print(f"with a preview of {len(preview.rows)} desensitized rows (k = {preview.receipt.k})")


@app.command()
def scan(
    dataset: Annotated[str, typer.Argument(help="Name of a dataset in the node config.")],
    node_dir: NodeDirOpt = Path("."),
    rows: Annotated[int, typer.Option(min=100, help="Rows sampled for the detectors.")] = 5000,
    write: Annotated[
        bool, typer.Option("--write", help="Record the proposals in node.toml, marked for you to confirm.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Propose each field's grade (core|important|general), personal flag and tag, with the evidence.

    A sample of the rows goes through detectors of Chinese identifiers and person names; the column names
    are matched too. Core is never proposed: it comes from the sector authority's catalogue.
    """
    from datetime import date

    from node.config import load_config
    from node.scan import evidence, render_scan, scan_dataset, write_proposals

    config_path = node_dir / CONFIG_NAME
    try:
        chosen = load_config(config_path).dataset(dataset)
        scans = scan_dataset(chosen, today=date.today(), rows=rows)
        outcome = write_proposals(config_path, chosen, scans) if write else None
    except (ConfigError, DataError, ValueError) as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps([{"field": s.spec.name, "grade": s.proposal.grade, "personal": s.proposal.personal,
                           "sensitive": s.proposal.sensitive, "tag": s.proposal.tag, "rule": s.proposal.rule,
                           "evidence": evidence(s)} for s in scans], ensure_ascii=False))  # fmt: skip
    else:
        render_scan(console, chosen, scans)
    if outcome is not None:
        for name, keys in outcome.written.items():
            err_console.print(f"proposed {name}: {', '.join(keys)}")
        for line in outcome.kept:
            err_console.print(f"[yellow]kept[/yellow] {line}")
        err_console.print(
            f"wrote proposals to {config_path}; confirm with `dataspace-node confirm {dataset}`"
        )


@app.command()
def confirm(
    dataset: Annotated[str, typer.Argument(help="Name of a dataset in the node config.")],
    field: Annotated[list[str] | None, typer.Option(help="Confirm only this field; repeatable.")] = None,
    node_dir: NodeDirOpt = Path("."),
) -> None:
    """Confirm the proposed values of a dataset as node.toml now has them (after you checked them)."""
    from node.config import load_config
    from node.scan import confirm as do_confirm

    config_path = node_dir / CONFIG_NAME
    try:
        confirmed = do_confirm(config_path, load_config(config_path).dataset(dataset), field or [])
    except (ConfigError, ValueError) as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    for name, keys in confirmed.items():
        console.print(f"confirmed {name}: {', '.join(keys)}")
    if not confirmed:
        console.print("nothing to confirm")


contracts_app = typer.Typer(help="Usage contracts proposed over this node's offers.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")


@contracts_app.command("pending")
def contracts_pending(
    node_dir: NodeDirOpt = Path("."), as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Proposals waiting for a person's decision, each with the full terms to be signed."""
    from node.contract_book import ContractBook, Decision
    from node.contract_view import describe, render

    pending = [c for c, d in ContractBook(node_dir / "contracts").entries() if d is Decision.PENDING]
    if as_json:
        _list_contracts(node_dir, as_json, only_pending=True)
        return
    for contract in pending:
        render(console, describe(contract, Decision.PENDING.value))
    console.print(
        f"{len(pending)} pending" + (": `dataspace-node contracts approve|reject ID`" if pending else "")
    )


@contracts_app.command("show")
def contracts_show(
    contract_id: str,
    node_dir: NodeDirOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The terms of one contract as they are signed: fields, kinds, purposes, budgets, minimums, price."""
    from node.contract_book import ContractBook
    from node.contract_view import describe, render

    book = ContractBook(node_dir / "contracts")
    try:
        contract, decision = book.get(contract_id), book.decision(contract_id)
    except ValueError as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    if contract is None or decision is None:
        err_console.print(f"[red]error[/red] no contract {contract_id} was proposed to this node")
        raise typer.Exit(2)
    if as_json:
        print(
            json.dumps(
                {"decision": decision, "contract": contract.model_dump(mode="json")}, ensure_ascii=False
            )
        )
        return
    render(console, describe(contract, decision.value))


@contracts_app.command("list")
def contracts_list(
    node_dir: NodeDirOpt = Path("."), as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Every contract proposed to this node, with its state and the node's decision."""
    _list_contracts(node_dir, as_json, only_pending=False)


@contracts_app.command("approve")
def contracts_approve(contract_id: str, node_dir: NodeDirOpt = Path(".")) -> None:
    """Approve a proposal: the running node offers and, once the buyer agrees, signs it."""
    _decide(node_dir, contract_id, "approved")


@contracts_app.command("reject")
def contracts_reject(contract_id: str, node_dir: NodeDirOpt = Path(".")) -> None:
    """Reject a proposal: the running node terminates the negotiation."""
    _decide(node_dir, contract_id, "rejected")


@contracts_app.command("revoke")
def contracts_revoke(contract_id: str, node_dir: NodeDirOpt = Path(".")) -> None:
    """Withdraw from a finalized contract: this node refuses its jobs at once, and tells the coordinator."""
    from datetime import UTC, datetime

    from contracts.signing import sign_statement
    from contracts.statements import StatementAction
    from node.contract_book import ContractBook
    from node.identity import NodeIdentity

    book = ContractBook(node_dir / "contracts")
    contract = book.get(contract_id) if contract_id.replace("_", "").isalnum() else None
    if contract is not None:  # signed and kept first: the refusal rests on this node's own statement
        identity = NodeIdentity.load(node_dir)
        now = datetime.now(UTC)
        signed = sign_statement(
            contract, StatementAction.REVOKE, identity.participant_id, identity.signing_key, now
        )
        book.keep(signed)
    _decide(node_dir, contract_id, "revoked")


def _list_contracts(node_dir: Path, as_json: bool, *, only_pending: bool) -> None:
    from node.contract_book import ContractBook, Decision

    rows = [
        {"contract_id": c.contract_id, "buyer": c.buyer, "purpose": c.purpose, "region": c.region,
         "state": c.state, "decision": d}
        for c, d in ContractBook(node_dir / "contracts").entries()
        if not only_pending or d is Decision.PENDING
    ]  # fmt: skip
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        console.print("(none)")
        return
    from rich.table import Table

    table = Table()
    for column in ("contract_id", "state", "decision", "buyer", "purpose", "region"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            *(str(row[c]) for c in ("contract_id", "state", "decision", "buyer", "purpose", "region"))
        )
    console.print(table)


def _decide(node_dir: Path, contract_id: str, decision: str) -> None:
    from node.contract_book import ContractBook, Decision

    try:
        ContractBook(node_dir / "contracts").decide(contract_id, Decision(decision))
    except (KeyError, ValueError) as exc:
        err_console.print(f"[red]error[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"{contract_id} {decision}; the running node acts on it within a second")


@app.command("sample-data")
def sample_data(
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write.")],
    profile: Annotated[str, typer.Option(help="Industry profile.")] = "steel",
    rows: Annotated[int, typer.Option(min=1, help="Number of rows.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 0,
    factory: Annotated[int, typer.Option(help="Factory index: each factory has its own traits.")] = 0,
) -> None:
    """Write realistic synthetic production data for trying the space out."""
    from node.sampledata import generate

    _profile_option(profile)
    output.parent.mkdir(parents=True, exist_ok=True)
    generate(output, profile=profile, rows=rows, seed=seed, factory_index=factory)
    console.print(f"wrote {rows} rows of {profile} data to {output}")


@app.command()
def journal(
    node_dir: NodeDirOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show what this node accepted, refused and computed; --json prints one array, like every --json.

    Entries are printed as they are read, so a long journal never sits in memory whole.
    """
    from node.journal import Journal

    first = True
    for entry in Journal(node_dir / "journal.jsonl").entries():
        if as_json:
            print("[" if first else ",", json.dumps(entry, ensure_ascii=False))
        else:
            details = {k: v for k, v in entry.items() if k not in ("time", "event")}
            console.print(f"{entry['time']}  [bold]{entry['event']}[/bold]  {details}", highlight=False)
        first = False
    if as_json:
        print("[]" if first else "]")


def main() -> None:
    app()
