"""``dataspace audit verify|show``: check the tamper-evident log and read its trails."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from coordinator.client.cli_common import (
    CaOpt,
    DataDirOpt,
    InsecureOpt,
    JsonOpt,
    TokenOpt,
    client_for,
    console,
    err_console,
    fail,
)
from coordinator.client.gateway import GatewayError
from protocols.tlog.exceptions import KeyFormatError, MissingCosignatureError, TamperError

audit_app = typer.Typer(help="Verify and read the tamper-evident audit log.", no_args_is_help=True)

DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATASPACE_DATABASE_URL",
        help="The coordinator's PostgreSQL database; without it, the SQLite file in --data-dir.",
    ),
]


@audit_app.command("verify")
def audit_verify(
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir",
            envvar="DATASPACE_DATA_DIR",
            help="Coordinator data directory. Local verification takes the log key from it: the operator's "
            "own files.",
        ),
    ] = Path("dataspace-data"),
    url: Annotated[
        str | None,
        typer.Option(help="Verify through the gateway; needs a log key you trust (--log-key or --node-dir)."),
    ] = None,
    token: TokenOpt = None,
    log_key: Annotated[
        str | None,
        typer.Option(help="Pinned verifier key of the log (with --url); never taken from the server."),
    ] = None,
    node_dir: Annotated[
        Path | None, typer.Option(help="With --url: use the log key this enrolled node pinned at enrollment.")
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            help="With --url: a witness verifier key whose cosignature the newest checkpoint needs."
        ),
    ] = None,
    min_cosignatures: Annotated[
        int | None,
        typer.Option(min=0, help="With --url: how many --witness cosignatures suffice (default: all)."),
    ] = None,
    trusted: Annotated[
        list[Path] | None,
        typer.Option(help="A checkpoint kept elsewhere (note file or a node's witness.json); repeatable."),
    ] = None,
    database_url: DatabaseUrlOpt = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Processes decoding entries (default: one per CPU).")
    ] = None,
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
) -> None:
    """Recompute the whole log and check every signed checkpoint; exit 1 naming the first bad index."""
    from coordinator.client.audit import (
        NoCoordinatorDatabaseError,
        NoTrustAnchorError,
        pinned_log_key,
        read_trusted,
        verify_local,
        verify_remote,
    )

    witnesses = witness or []
    try:
        kept = read_trusted(trusted or [])
        if url is not None:
            key, source = pinned_log_key(log_key, node_dir)
            client = client_for(url, token, data_dir, ca=ca, insecure_http=insecure_http)
            summary = verify_remote(client, key, kept, witnesses, min_cosignatures) + f"; log key {source}"
        elif witnesses or min_cosignatures is not None or node_dir is not None:
            raise NoTrustAnchorError("--witness, --min-cosignatures and --node-dir go with --url")
        else:
            summary = verify_local(data_dir, database_url, kept, workers)
    except (NoTrustAnchorError, KeyFormatError, NoCoordinatorDatabaseError) as error:
        err_console.print(f"[red]error[/red] {error}; nothing was verified")
        raise typer.Exit(2) from None
    except FileNotFoundError as error:
        err_console.print(f"[red]error[/red] {data_dir} is not a coordinator data directory ({error})")
        raise typer.Exit(2) from None
    except (TamperError, MissingCosignatureError) as error:
        err_console.print(f"[red]audit log verification FAILED[/red]: {error}")
        if isinstance(error, TamperError) and error.index is not None:
            err_console.print(f"first bad index: {error.index}")
        raise typer.Exit(1) from None
    except GatewayError as error:
        raise fail(error) from None
    console.print(f"[green]audit log verified[/green]: {summary}")


@audit_app.command("show")
def audit_show(
    job: Annotated[str | None, typer.Option(help="Trail of one job.")] = None,
    contract: Annotated[str | None, typer.Option(help="Entries of one usage contract.")] = None,
    participant: Annotated[str | None, typer.Option(help="Entries naming one participant.")] = None,
    url: Annotated[
        str | None, typer.Option(help="Read through the gateway instead of the local store.")
    ] = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    database_url: DatabaseUrlOpt = None,
    as_json: JsonOpt = False,
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
) -> None:
    """Print a readable trail of everything that happened to a job, a contract or a participant."""
    from coordinator.client.audit import NoCoordinatorDatabaseError, local_entries, remote_entries

    named = (("job", job), ("contract", contract), ("participant", participant))
    subject = next((f"{kind}:{value}" for kind, value in named if value), None)
    try:
        if url is None:  # the operator's own store: works whether or not the coordinator runs
            _print_trail(local_entries(data_dir, database_url, subject), as_json)
        else:
            with client_for(url, token, data_dir, ca=ca, insecure_http=insecure_http) as client:
                _print_trail(remote_entries(client, subject), as_json)
    except NoCoordinatorDatabaseError as error:
        err_console.print(f"[red]error[/red] {error}")
        raise typer.Exit(2) from None
    except FileNotFoundError as error:
        err_console.print(f"[red]error[/red] {data_dir} is not a coordinator data directory ({error})")
        raise typer.Exit(2) from None
    except GatewayError as error:
        raise fail(error) from None


def _print_trail(entries: Iterator[dict[str, Any]], as_json: bool) -> None:
    """Print entries as they are read, so a long trail never sits in memory whole."""
    from coordinator.client.audit import trail_line

    empty = True
    for entry in entries:
        if as_json:  # the same text as json.dumps(list_of_entries, indent=2)
            text = textwrap.indent(json.dumps(entry, indent=2, ensure_ascii=False), "  ")
            print("[\n" if empty else ",\n", text, sep="", end="")
        else:
            console.print(trail_line(entry), highlight=False)
        empty = False
    if as_json:
        print("[]" if empty else "\n]")
    elif empty:
        console.print("(no entries)")
