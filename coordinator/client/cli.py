"""The ``dataspace`` command for operators and buyers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Annotated

import httpx
import typer

from coordinator.client.cli_audit import audit_app
from coordinator.client.cli_common import (
    CaOpt,
    DataDirOpt,
    InsecureOpt,
    JsonOpt,
    KeyFileOpt,
    TokenOpt,
    UrlOpt,
    client_for,
    err_console,
    fail,
    gateway_url,
    show,
)
from coordinator.client.cli_contracts import contract_app, job_app
from coordinator.client.cli_demands import demand_app
from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.client.tables import catalog_table, nodes_table, offers_table
from coordinator.client.trust import DEFAULT_CA_FILE, GatewayTrustError

app = typer.Typer(
    help="Operate the industrial data space and run joint analyses as a buyer.", no_args_is_help=True
)
coordinator_app = typer.Typer(help="Run the coordinator.", no_args_is_help=True)
app.add_typer(coordinator_app, name="coordinator")
app.add_typer(job_app, name="job")
app.add_typer(contract_app, name="contract")
app.add_typer(demand_app, name="demand")
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
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="Serve the gateway over plain HTTP: tokens travel in clear. Local experiments only.",
        ),
    ] = False,
) -> None:
    """Run the node gRPC service, the HTTPS gateway and the job orchestrator."""
    from coordinator.server.serve import serve as run_server
    from coordinator.settings import CoordinatorSettings

    logging.basicConfig(
        level=os.environ.get("DATASPACE_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    settings = CoordinatorSettings(
        data_dir=data_dir,
        host=host,
        grpc_port=grpc_port,
        http_port=http_port,
        database_url=database_url,
        insecure_http=insecure_http,
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
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Issue a one-time, expiring enrollment token (operator)."""
    with client_for(url, token, data_dir, ca=ca, insecure_http=insecure_http) as client:
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
    ca: Annotated[
        Path,
        typer.Option(
            "--ca",
            envvar="DATASPACE_CA",
            help="Where the operator CA is saved once it matches the token's pin; later commands verify "
            "the gateway with it.",
        ),
    ] = DEFAULT_CA_FILE,
    insecure_http: InsecureOpt = False,
) -> None:
    """Redeem a buyer's enrollment token: pin the operator CA, make the signing key here, print the API token.

    The CA is fetched from the gateway and kept only if it matches the pin in the token; the enrollment
    itself runs over HTTPS verified against it, and its reply must carry the operator's signature.
    """
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from contracts.enrollment import EnrollmentReplyError, EnrollmentToken, MalformedTokenError
    from coordinator.client.enrollment import fetch_pinned_ca
    from coordinator.identity.pki import write_private

    if key_file.exists():
        err_console.print(f"[red]error[/red] {key_file} exists; choose another --key-file")
        raise typer.Exit(2)
    key = Ed25519PrivateKey.generate()
    where = gateway_url(url, data_dir)
    try:
        ca_pem = fetch_pinned_ca(where, EnrollmentToken.parse(enrollment_token), insecure_http=insecure_http)
        if ca.exists() and ca.read_bytes() != ca_pem:
            raise EnrollmentReplyError(f"{ca} holds another CA; choose another --ca")
        with GatewayClient(where, ca_pem=ca_pem, insecure_http=insecure_http) as client:
            api_token = client.enroll_buyer(enrollment_token, key.public_key(), now=datetime.now(UTC))
    except GatewayError as error:
        raise fail(error) from None
    except (EnrollmentReplyError, MalformedTokenError, GatewayTrustError, httpx.HTTPError) as error:
        err_console.print(f"[red]error[/red] enrollment failed: {error}")
        raise typer.Exit(2) from None
    write_private(key_file, key.private_bytes_raw())
    ca.write_bytes(ca_pem)
    print(api_token)


@app.command("revoke-certificate")
def revoke_certificate(
    participant_id: Annotated[str, typer.Option(help="Participant whose certificate is revoked.")],
    reason: Annotated[str, typer.Option(help="Why; goes into the audit log.")] = "revoked by the operator",
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a factory's certificate (operator): its node is disconnected and refused."""
    show(
        url,
        token,
        data_dir,
        as_json,
        lambda c: c.revoke_certificate(participant_id, reason),
        ca=ca,
        insecure_http=insecure_http,
    )


@app.command("nodes")
def nodes(
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List connected factory nodes (operator)."""
    show(
        url,
        token,
        data_dir,
        as_json,
        lambda c: c.nodes(),
        ca=ca,
        insecure_http=insecure_http,
        table=nodes_table,
    )


@app.command("datasets")
def datasets(
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List datasets declared by nodes, with their public schemas."""
    show(url, token, data_dir, as_json, lambda c: c.datasets(), ca=ca, insecure_http=insecure_http)


@app.command("offers")
def offers(
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List the dataset offers factories have published."""
    show(
        url,
        token,
        data_dir,
        as_json,
        lambda c: c.offers(),
        ca=ca,
        insecure_http=insecure_http,
        table=offers_table,
    )


@app.command("catalog")
def catalog(
    q: Annotated[
        str | None, typer.Argument(help="Words: a tag in Chinese or English, part of a field name.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="A semantic tag every offer must carry; repeatable.")
    ] = None,
    kind: Annotated[
        list[str] | None, typer.Option(help="A job kind every offer must allow; repeatable.")
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="A purpose the offers allow.")] = None,
    region: Annotated[
        str | None, typer.Option(help="Your region (ISO 3166), which the offers must allow.")
    ] = None,
    max_grade: Annotated[str | None, typer.Option(help="general or important: the highest grade.")] = None,
    min_rows: Annotated[int | None, typer.Option(help="Fewest rows the factory reported.")] = None,
    max_price: Annotated[str | None, typer.Option(help="Highest price in CNY.")] = None,
    sort: Annotated[
        str, typer.Option(help="published, price, rows, completeness or valid_until.")
    ] = "published",
    order: Annotated[str, typer.Option(help="asc or desc.")] = "desc",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Search the catalogue of offers: by words, tags, job kinds, purpose, region, grade, size and price."""
    query = {"q": q, "tag": tag, "kind": kind, "purpose": purpose, "region": region, "max_grade": max_grade,
             "min_rows": min_rows, "max_price": max_price, "sort": sort, "order": order, "limit": limit,
             "offset": offset}  # fmt: skip
    show(
        url, token, data_dir, as_json, lambda c: c.catalog(**query),
        ca=ca, insecure_http=insecure_http, table=catalog_table,
    )  # fmt: skip


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
