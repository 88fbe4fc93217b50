"""The ``dataspace`` command for operators and buyers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from coordinator.client.cli_audit import audit_app
from coordinator.client.cli_common import (
    DataDirOpt,
    JsonOpt,
    KeyFileOpt,
    TokenOpt,
    UrlOpt,
    client_for,
    emit,
    err_console,
    fail,
    show,
)
from coordinator.client.gateway import GatewayClient, GatewayError

app = typer.Typer(
    help="Operate the industrial data space and run joint analyses as a buyer.", no_args_is_help=True
)
coordinator_app = typer.Typer(help="Run the coordinator.", no_args_is_help=True)
job_app = typer.Typer(help="Submit and follow joint-analysis jobs.", no_args_is_help=True)
app.add_typer(coordinator_app, name="coordinator")
app.add_typer(job_app, name="job")
contract_app = typer.Typer(
    help="Negotiate usage contracts over factories' offers (buyer).", no_args_is_help=True
)
app.add_typer(contract_app, name="contract")
app.add_typer(audit_app, name="audit")


@coordinator_app.command("serve")
def serve(
    data_dir: DataDirOpt = Path("dataspace-data"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    grpc_port: Annotated[int, typer.Option(help="Node port (mutual TLS); 0 picks a free port.")] = 7443,
    http_port: Annotated[int, typer.Option(help="Gateway port; 0 picks a free port.")] = 8080,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="DATASPACE_DATABASE_URL", help="PostgreSQL URL; SQLite in data dir if unset."),
    ] = None,
) -> None:
    """Run the node gRPC service, the gateway and the job orchestrator."""
    from coordinator.server.serve import serve as run_server
    from coordinator.settings import CoordinatorSettings

    logging.basicConfig(
        level=os.environ.get("DATASPACE_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    settings = CoordinatorSettings(
        data_dir=data_dir, host=host, grpc_port=grpc_port, http_port=http_port, database_url=database_url
    )
    asyncio.run(run_server(settings))


@app.command("enroll-token")
def enroll_token(
    participant_id: Annotated[str, typer.Option(help="Unified social credit code of the organisation.")],
    role: Annotated[str, typer.Option(help="factory or buyer.")],
    ttl: Annotated[int, typer.Option(help="Validity in seconds.")] = 86400,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """Issue a one-time, expiring enrollment token (operator)."""
    with client_for(url, token, data_dir) as client:
        try:
            issued = client.create_enrollment_token(participant_id, role, ttl)
        except GatewayError as error:
            raise fail(error) from None
    print(json.dumps({"token": issued}) if as_json else issued)


@app.command("enroll")
def enroll_buyer(
    enrollment_token: Annotated[str, typer.Option("--enrollment-token", help="Token from the operator.")],
    key_file: KeyFileOpt = Path("dataspace-buyer.key"),
    url: UrlOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
) -> None:
    """Redeem a buyer's enrollment token: create the contract-signing key here, print the API token."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from coordinator.identity.pki import write_private

    if key_file.exists():
        err_console.print(f"[red]error[/red] {key_file} exists; choose another --key-file")
        raise typer.Exit(2)
    key = Ed25519PrivateKey.generate()
    with client_for(url, None, data_dir) as client:
        try:
            api_token = client.enroll_buyer(enrollment_token, key.public_key())
        except GatewayError as error:
            raise fail(error) from None
    write_private(key_file, key.private_bytes_raw())
    print(api_token)


@app.command("revoke-certificate")
def revoke_certificate(
    participant_id: Annotated[str, typer.Option(help="Participant whose certificate is revoked.")],
    reason: Annotated[str, typer.Option(help="Why; goes into the audit log.")] = "revoked by the operator",
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """Revoke a factory's certificate (operator): its node is disconnected and refused."""
    show(url, token, data_dir, as_json, lambda c: c.revoke_certificate(participant_id, reason))


@app.command("nodes")
def nodes(
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """List connected factory nodes (operator)."""
    show(url, token, data_dir, as_json, lambda c: c.nodes())


@app.command("datasets")
def datasets(
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """List datasets declared by nodes, with their public schemas."""
    show(url, token, data_dir, as_json, lambda c: c.datasets())


@app.command("offers")
def offers(
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """List the dataset offers factories have published."""
    show(url, token, data_dir, as_json, lambda c: c.offers())


@contract_app.command("propose")
def contract_propose(
    offer: Annotated[list[str], typer.Option(help="Offer id; repeatable (one per factory or more).")],
    purpose: Annotated[str, typer.Option(help="Why the data is used (controlled vocabulary).")],
    region: Annotated[str, typer.Option(help="Your region, ISO 3166 alpha-2.")] = "CN",
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """Propose one contract over several factories' offers; prints the compiled terms."""
    show(url, token, data_dir, as_json, lambda c: c.propose_contract(offer, purpose, region))


@contract_app.command("status")
def contract_status(
    contract_id: str,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """A contract's state, signatures and usage so far."""
    show(
        url,
        token,
        data_dir,
        as_json,
        lambda c: {**c.contract(contract_id), "usage": c.contract_usage(contract_id)},
    )


@contract_app.command("sign")
def contract_sign(
    contract_id: str,
    participant_id: Annotated[str, typer.Option(help="Your participant id (USCC).")],
    key_file: KeyFileOpt = Path("dataspace-buyer.key"),
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """Sign the terms here with your key (only the signature is sent)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(key_file.read_bytes())

    def sign(client: GatewayClient) -> Any:
        client.participant_id, client.signing_key = participant_id, key
        return client.sign_contract(contract_id)

    show(url, token, data_dir, as_json, sign)


def _contract_move(move: str, doc: str) -> Callable[..., None]:
    """One command per simple negotiation move; they differ only in the move they send."""

    def command(
        contract_id: str,
        url: UrlOpt = None,
        token: TokenOpt = None,
        data_dir: DataDirOpt = Path("dataspace-data"),
        as_json: JsonOpt = False,
    ) -> None:
        show(url, token, data_dir, as_json, lambda c: c.contract_move(contract_id, move))

    command.__doc__ = doc
    return command


contract_app.command("agree")(_contract_move("agree", "Agree to the terms every factory offered."))


def _contract_end(move: str, doc: str) -> Callable[..., None]:
    """Revoke or terminate: a party signs its statement here with its key; the operator signs none."""

    def command(
        contract_id: str,
        participant_id: Annotated[
            str | None, typer.Option(help="Your participant id (USCC); with --key-file, sign the statement.")
        ] = None,
        key_file: KeyFileOpt = Path("dataspace-buyer.key"),
        url: UrlOpt = None,
        token: TokenOpt = None,
        data_dir: DataDirOpt = Path("dataspace-data"),
        as_json: JsonOpt = False,
    ) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.from_private_bytes(key_file.read_bytes()) if participant_id else None

        def end(client: GatewayClient) -> Any:
            client.participant_id, client.signing_key = participant_id, key
            return client.contract_move(contract_id, move)

        show(url, token, data_dir, as_json, end)

    command.__doc__ = doc
    return command


for _move, _doc in (
    (
        "revoke",
        "Withdraw from a finalized contract, signing it with your key: its jobs in flight are cancelled.",
    ),
    ("terminate", "End a negotiation before it is finalized, signing it with your key."),
):
    contract_app.command(_move)(_contract_end(_move, _doc))


@job_app.command("submit")
def job_submit(
    spec_file: Annotated[
        Path, typer.Argument(help="Job spec as JSON (kind, dataset, field, group_by, ...).")
    ],
    contract: Annotated[str | None, typer.Option(help="The finalized contract the job runs under.")] = None,
    epsilon: Annotated[
        float | None, typer.Option(help="The share of the contract's epsilon budget this job spends.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the job to finish and print its result.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """Submit a joint-analysis job (buyer) under a finalized usage contract."""
    spec = json.loads(spec_file.read_text())
    if contract is not None:
        spec["contract_id"] = contract
    if epsilon is not None:
        spec["epsilon"] = epsilon
    with client_for(url, token, data_dir) as client:
        try:
            job = client.submit_job(spec)
            if wait:
                job = client.wait(job["id"])
                if job["state"] == "SUCCEEDED":
                    job["result"] = client.result(job["id"])["result"]
        except GatewayError as error:
            raise fail(error) from None
    emit(job, as_json)


@job_app.command("status")
def job_status(
    job_id: str,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """Show a job's state and the reason of a failure."""
    show(url, token, data_dir, as_json, lambda c: c.job(job_id))


@job_app.command("result")
def job_result(
    job_id: str,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    as_json: JsonOpt = False,
) -> None:
    """Print a finished job's result."""
    show(url, token, data_dir, as_json, lambda c: c.result(job_id))


@app.command("demo")
def demo(
    workdir: Annotated[Path | None, typer.Option(help="Keep every factory's data and state here.")] = None,
    nodes: Annotated[int, typer.Option("--nodes", min=3, max=20, help="Number of factories.")] = 4,
    rows: Annotated[int, typer.Option(help="Rows of production data per factory.")] = 20_000,
    as_json: JsonOpt = False,
) -> None:
    """Start a coordinator and N factories on this machine, run joint analyses, check them."""
    from coordinator.localspace.demo import run_demo

    raise typer.Exit(run_demo(workdir=workdir, n_nodes=nodes, rows=rows, as_json=as_json))


def main() -> None:
    app()
