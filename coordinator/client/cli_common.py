"""What every ``dataspace`` command shares: common options, the gateway session, and printing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console, RenderableType

from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.client.trust import GatewayTrustError
from coordinator.settings import read_endpoints

console = Console()
# How a command shows its answer to people: a table, or any other rich renderable (bars, for results).
View = Callable[[Any], RenderableType]
err_console = Console(stderr=True)

DataDirOpt = Annotated[
    Path, typer.Option("--data-dir", envvar="DATASPACE_DATA_DIR", help="Coordinator data directory.")
]
UrlOpt = Annotated[str | None, typer.Option("--url", envvar="DATASPACE_URL", help="Gateway URL.")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="DATASPACE_TOKEN", help="Bearer token.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CaOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca",
        envvar="DATASPACE_CA",
        help="Operator CA certificate the gateway's HTTPS is verified against (default: ca.crt of "
        "--data-dir, else dataspace-ca.crt saved by `dataspace enroll`).",
    ),
]
InsecureOpt = Annotated[
    bool,
    typer.Option(
        "--insecure-http", help="Allow a plain http:// gateway URL: tokens travel in clear. Experiments only."
    ),
]
KeyFileOpt = Annotated[
    Path, typer.Option("--key-file", envvar="DATASPACE_KEY_FILE", help="The buyer's contract-signing key.")
]


def gateway_url(url: str | None, data_dir: Path) -> str:
    """--url, else where the coordinator of the data directory listens."""
    if url is not None:
        return url
    try:
        return read_endpoints(data_dir)["http_url"]
    except FileNotFoundError:
        raise typer.BadParameter(f"no --url given and no running coordinator in {data_dir}") from None


def client_for(
    url: str | None, token: str | None, data_dir: Path, *, ca: Path | None = None, insecure_http: bool = False
) -> GatewayClient:
    """Gateway from flags or env; fall back to a local coordinator's data directory (operator)."""
    url = gateway_url(url, data_dir)
    if token is None and (data_dir / "operator.token").exists():
        token = (data_dir / "operator.token").read_text().strip()
    try:
        return GatewayClient.connect(url, token, ca=ca, data_dir=data_dir, insecure_http=insecure_http)
    except OSError as error:
        raise typer.BadParameter(f"cannot read the CA certificate: {error}") from None
    except GatewayTrustError as error:
        raise typer.BadParameter(str(error)) from None


def emit(data: Any, as_json: bool, table: View | None = None) -> None:
    """JSON for scripts with ``--json`` (a list prints as one array); else a table, or pretty JSON."""
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    elif table is not None:
        console.print(table(data))
    else:
        console.print_json(data=data, default=str)


def show(
    url: str | None,
    token: str | None,
    data_dir: Path,
    as_json: bool,
    call: Callable[[GatewayClient], Any],
    *,
    ca: Path | None = None,
    insecure_http: bool = False,
    contract_id: str | None = None,
    table: View | None = None,
) -> None:
    """Call the gateway and print the answer; a refusal prints its code and exits 2.

    A refused move on ``contract_id`` also prints the command that moves the contract on.
    """
    with client_for(url, token, data_dir, ca=ca, insecure_http=insecure_http) as client:
        try:
            emit(call(client), as_json, table)
        except GatewayError as error:
            raise fail(error, contract_id) from None
        except httpx.TransportError as error:  # unreachable, or its certificate is not the operator CA's
            err_console.print(
                f"[red]error[/red] cannot talk to the gateway at {client.http.base_url}: {error}"
            )
            raise typer.Exit(2) from None


# The command that moves a contract out of a stage, for the hint after an illegal transition.
_NEXT_COMMAND = {
    "OFFERED": "dataspace contract agree {id}",
    "AGREED": "dataspace contract sign {id} --key-file buyer.key",
    "REQUESTED": "dataspace contract status {id}   # until every factory has offered",
}


def fail(error: GatewayError, contract_id: str | None = None) -> typer.Exit:
    err_console.print(f"[red]error[/red] {error.code}: {error.message}")
    if error.details:
        err_console.print_json(data=error.details)
    stage = str(error.details.get("current_state", "")) if error.details else ""
    if error.code == "illegal_transition" and contract_id and stage in _NEXT_COMMAND:
        err_console.print(f"next: {_NEXT_COMMAND[stage].format(id=contract_id)}", highlight=False)
    return typer.Exit(2)
