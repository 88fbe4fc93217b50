"""What every ``dataspace`` command shares: common options, the gateway session, and printing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.settings import read_endpoints

console = Console()
err_console = Console(stderr=True)

DataDirOpt = Annotated[
    Path, typer.Option("--data-dir", envvar="DATASPACE_DATA_DIR", help="Coordinator data directory.")
]
UrlOpt = Annotated[str | None, typer.Option("--url", envvar="DATASPACE_URL", help="Gateway URL.")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="DATASPACE_TOKEN", help="Bearer token.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
KeyFileOpt = Annotated[
    Path, typer.Option("--key-file", envvar="DATASPACE_KEY_FILE", help="The buyer's contract-signing key.")
]


def client_for(url: str | None, token: str | None, data_dir: Path) -> GatewayClient:
    """Gateway from flags or env; fall back to a local coordinator's data directory (operator)."""
    if url is None:
        try:
            url = read_endpoints(data_dir)["http_url"]
        except FileNotFoundError:
            raise typer.BadParameter(f"no --url given and no running coordinator in {data_dir}") from None
    if token is None and (data_dir / "operator.token").exists():
        token = (data_dir / "operator.token").read_text().strip()
    return GatewayClient(url, token)


def emit(data: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        console.print_json(data=data, default=str)


def show(
    url: str | None, token: str | None, data_dir: Path, as_json: bool, call: Callable[[GatewayClient], Any]
) -> None:
    """Call the gateway and print the answer; a refusal prints its code and exits 2."""
    with client_for(url, token, data_dir) as client:
        try:
            emit(call(client), as_json)
        except GatewayError as error:
            raise fail(error) from None


def fail(error: GatewayError) -> typer.Exit:
    err_console.print(f"[red]error[/red] {error.code}: {error.message}")
    if error.details:
        err_console.print_json(data=error.details)
    return typer.Exit(2)
