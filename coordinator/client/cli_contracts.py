"""``dataspace contract|job``: negotiate usage contracts over factories' offers and run jobs under them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from contracts.jobspec import PSI_KINDS, JobKind
from contracts.orders import ORDERED_KINDS
from coordinator.client.cli_common import (
    CaOpt,
    DataDirOpt,
    InsecureOpt,
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
from coordinator.client.plots import PLOT_FORMATS, result_view, save_plot
from coordinator.client.tables import contracts_table, jobs_table

contract_app = typer.Typer(
    help="Negotiate usage contracts over factories' offers (buyer).", no_args_is_help=True
)
if TYPE_CHECKING:  # HE (TenSEAL) loads only for encrypted scoring, PSI for set intersections
    from coordinator.client.psi import Responder
    from coordinator.client.scoring import ScoringModel
    from protocols.he import FeatureBounds, KeyOwner

job_app = typer.Typer(help="Submit and follow joint-analysis jobs.", no_args_is_help=True)


@contract_app.command("propose")
def contract_propose(
    offer: Annotated[list[str], typer.Option(help="Offer id; repeatable (one per factory or more).")],
    purpose: Annotated[str, typer.Option(help="Why the data is used (controlled vocabulary).")],
    region: Annotated[str, typer.Option(help="Your region, ISO 3166 alpha-2.")] = "CN",
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Propose one contract over several factories' offers; prints the compiled terms."""
    show(
        url,
        token,
        data_dir,
        as_json,
        lambda c: c.propose_contract(offer, purpose, region),
        ca=ca,
        insecure_http=insecure_http,
    )


@contract_app.command("list")
def contract_list(
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List your contracts with their stage (the operator sees every contract)."""
    show(
        url, token, data_dir, as_json, lambda c: c.contracts(),
        ca=ca, insecure_http=insecure_http, table=contracts_table,
    )  # fmt: skip


@contract_app.command("status")
def contract_status(
    contract_id: str,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A contract's state, signatures and usage so far."""
    show(
        url,
        token,
        data_dir,
        as_json,
        lambda c: {**c.contract(contract_id), "usage": c.contract_usage(contract_id)},
        ca=ca,
        insecure_http=insecure_http,
    )


@contract_app.command("sign")
def contract_sign(
    contract_id: str,
    participant_id: Annotated[
        str | None, typer.Option(help="Your participant id (USCC); by default the one your token carries.")
    ] = None,
    key_file: KeyFileOpt = Path("dataspace-buyer.key"),
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Sign the terms here with your key (only the signature is sent)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(key_file.read_bytes())

    def sign(client: GatewayClient) -> Any:
        client.participant_id = participant_id or str(client.me()["participant_id"])
        client.signing_key = key
        return client.sign_contract(contract_id)

    show(url, token, data_dir, as_json, sign, ca=ca, insecure_http=insecure_http, contract_id=contract_id)


def _contract_move(move: str, doc: str) -> Callable[..., None]:
    """One command per simple negotiation move; they differ only in the move they send."""

    def command(
        contract_id: str,
        url: UrlOpt = None,
        token: TokenOpt = None,
        data_dir: DataDirOpt = Path("dataspace-data"),
        ca: CaOpt = None,
        insecure_http: InsecureOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        show(
            url,
            token,
            data_dir,
            as_json,
            lambda c: c.contract_move(contract_id, move),
            ca=ca,
            insecure_http=insecure_http,
            contract_id=contract_id,
        )

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
        ca: CaOpt = None,
        insecure_http: InsecureOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.from_private_bytes(key_file.read_bytes()) if participant_id else None

        def end(client: GatewayClient) -> Any:
            client.participant_id, client.signing_key = participant_id, key
            return client.contract_move(contract_id, move)

        show(url, token, data_dir, as_json, end, ca=ca, insecure_http=insecure_http, contract_id=contract_id)

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
        Path | None,
        typer.Argument(help="Job spec as JSON (kind, dataset, field, group_by, ...); options override it."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="The job kind (count, mean, encrypted_scoring, ...).")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="The dataset the job reads.")] = None,
    group_by: Annotated[str | None, typer.Option(help="A category field to group by.")] = None,
    contract: Annotated[str | None, typer.Option(help="The finalized contract the job runs under.")] = None,
    epsilon: Annotated[
        float | None, typer.Option(help="The share of the contract's epsilon budget this job spends.")
    ] = None,
    purpose: Annotated[
        str | None, typer.Option(help="Why this job runs (one the contract allows); default: the contract's.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the job to finish and print its result.")] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="With --wait: give up waiting after this many s.")
    ] = 600,
    model: Annotated[
        Path | None,
        typer.Option(help="encrypted_scoring: your private model (JSON); it leaves this machine encrypted."),
    ] = None,
    he_key: Annotated[
        Path | None,
        typer.Option(help="encrypted_scoring: your HE secret key file, made on first use [DATA_DIR/he.key]."),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(help="psi_*: your keys, one per line (CSV, first column); they stay on this machine."),
    ] = None,
    key_field: Annotated[
        str | None, typer.Option(help="psi_*: the factories' field holding the keys.")
    ] = None,
    normalization: Annotated[
        str | None,
        typer.Option(help="psi_*: credit_code, part_number, text or exact (both sides apply it)."),
    ] = None,
    field: Annotated[
        str | None, typer.Option(help="The field a statistic measures (psi_sum: the one summed).")
    ] = None,
    key_file: KeyFileOpt = Path("dataspace-buyer.key"),
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Submit a joint-analysis job (buyer) under a finalized usage contract.

    A psi_cardinality or psi_sum job needs this command to stay until the job ends: it answers each
    factory with your keys (--keys), blinded, so it always waits.
    """
    spec = json.loads(spec_file.read_text()) if spec_file is not None else {}
    chosen = {"kind": kind, "dataset": dataset, "group_by": group_by, "key_field": key_field,
              "normalization": normalization, "field": field}  # fmt: skip
    spec |= {name: value for name, value in chosen.items() if value is not None}
    if contract is not None:
        spec["contract_id"] = contract
    if epsilon is not None:
        spec["epsilon"] = epsilon
    if purpose is not None:
        spec["purpose"] = purpose
    if (spec.get("kind") == JobKind.ENCRYPTED_SCORING) != (model is not None):
        raise typer.BadParameter("--model goes with, and only with, a spec of kind encrypted_scoring")
    if (spec.get("kind") in PSI_KINDS) != (keys is not None):
        raise typer.BadParameter("--keys goes with, and only with, a spec of kind psi_cardinality or psi_sum")
    responder = _responder(keys, spec) if keys is not None else None
    wait = wait or responder is not None
    ordered = spec.get("kind") in ORDERED_KINDS
    if ordered and not key_file.exists():
        raise typer.BadParameter(f"a {spec.get('kind')} job needs your signed order: no key at {key_file}")
    with client_for(url, token, data_dir, ca=ca, insecure_http=insecure_http) as client:
        try:
            if key_file.exists():  # the order is signed here, with your key (nodes check it)
                _hold_key(client, key_file)
            scoring = None
            if model is not None:
                scoring = _encrypted_query(client, spec, model, he_key or data_dir / "he.key")
            job = client.submit_job(spec)
            if wait:
                with err_console.status(f"job {job['id']} {job['state']}") as status:

                    def progress(seen: dict[str, Any], waited: float) -> None:
                        status.update(f"job {seen['id']} {seen['state']} ({waited:.0f} s)")
                        if responder is not None and seen["state"] == "RUNNING":
                            responder.answer(client, seen["id"])

                    job = client.wait(job["id"], timeout=timeout, progress=progress)
                if job["state"] == "SUCCEEDED":
                    job["result"] = client.result(job["id"])["result"]
                    if scoring is not None:
                        job["result"] = scoring.read(job["result"])
                    if responder is not None and spec.get("kind") == JobKind.PSI_SUM:
                        job["result"] = _read_sum(responder, job["result"])
        except GatewayError as error:
            raise fail(error) from None
        except TimeoutError as error:
            err_console.print(
                f"[yellow]still waiting[/yellow] {error}; `dataspace job status ID` shows it later"
            )
            raise typer.Exit(3) from None
    emit(job, as_json)


@dataclass(frozen=True)
class _Scoring:
    model: ScoringModel
    bounds: FeatureBounds
    owner: KeyOwner

    def read(self, result: dict[str, Any]) -> dict[str, Any]:
        """The decrypted figures in place of the ciphertexts."""
        from coordinator.client.scoring import read_scores

        groups = read_scores(result, self.model, self.bounds, self.owner)
        return {k: v for k, v in result.items() if k != "groups"} | {"groups": groups}


def _hold_key(client: GatewayClient, key_file: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        client.signing_key = Ed25519PrivateKey.from_private_bytes(key_file.read_bytes())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read your signing key {key_file}: {exc}") from None
    client.participant_id = str(client.me()["participant_id"])


def _responder(keys: Path, spec: dict[str, Any]) -> Responder:
    """The buyer's normalised keys, ready to answer the factories."""
    from coordinator.client.psi import Responder, read_keys
    from protocols.psi.exceptions import PsiError

    try:
        key_set = read_keys(keys, str(spec.get("normalization") or ""))
    except (OSError, UnicodeDecodeError, PsiError) as exc:
        raise typer.BadParameter(f"cannot read the keys {keys}: {exc}") from None
    err_console.print(
        f"{len(key_set.keys)} distinct keys ({key_set.duplicates} duplicates, {len(key_set.invalid)} invalid "
        f"under {key_set.normalization}); they stay on this machine",
        highlight=False,
    )
    return Responder(key_set, str(spec.get("kind")))


def _read_sum(responder: Responder, result: dict[str, Any]) -> dict[str, Any]:
    """The total, read with the masks only this client holds, in place of the masked point."""
    from protocols.psi.exceptions import PsiError

    try:
        total = responder.total(result)
    except (PsiError, KeyError) as exc:
        raise typer.BadParameter(f"the total cannot be read: {exc}") from None
    return {k: v for k, v in result.items() if k != "masked_total"} | {"sum": total}


def _encrypted_query(
    client: GatewayClient, spec: dict[str, Any], model_file: Path, key_file: Path
) -> _Scoring:
    """Encrypt the model under the buyer's key, upload it, and name it in ``spec``."""
    from coordinator.client.scoring import prepare

    scoring = _scoring_for(client, spec.get("dataset"), model_file, key_file)
    with err_console.status("encrypting the model under your key"):
        prepared = prepare(scoring.model, scoring.bounds, scoring.owner)
    with err_console.status(f"uploading the encrypted query ({len(prepared.data) / 2**20:.0f} MiB)"):
        uploaded = client.upload_input(prepared.data)
    spec.update(prepared.spec_fields(scoring.model, uploaded["digest"]))
    return scoring


def _scoring_for(client: GatewayClient, dataset: Any, model_file: Path, key_file: Path) -> _Scoring:
    """The model, the public bounds of its features in ``dataset``, and the buyer's key (made if missing)."""
    from contracts.schema import DatasetSchema
    from coordinator.client.scoring import ScoringModel, feature_bounds, load_or_create_key

    try:
        model = ScoringModel.model_validate_json(model_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read the model {model_file}: {exc}") from None
    schemas = {d["name"]: d["schema"] for d in client.datasets() if d.get("schema")}
    if dataset not in schemas:
        raise typer.BadParameter(f"no dataset {dataset!r} is published")
    try:
        bounds = feature_bounds(model, DatasetSchema.model_validate(schemas[dataset]))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return _Scoring(model, bounds, load_or_create_key(key_file))


@job_app.command("list")
def job_list(
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List your jobs with their state (the operator sees every job)."""
    show(
        url,
        token,
        data_dir,
        as_json,
        lambda c: c.jobs(),
        ca=ca,
        insecure_http=insecure_http,
        table=jobs_table,
    )


@job_app.command("status")
def job_status(
    job_id: str,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a job's state and the reason of a failure."""
    show(url, token, data_dir, as_json, lambda c: c.job(job_id), ca=ca, insecure_http=insecure_http)


@job_app.command("result")
def job_result(
    job_id: str,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the result into this file, FILE.svg or FILE.png.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="encrypted_scoring: the model the job ran, to decrypt its figures.")
    ] = None,
    he_key: Annotated[
        Path | None, typer.Option(help="encrypted_scoring: your HE secret key file [DATA_DIR/he.key].")
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    data_dir: DataDirOpt = Path("dataspace-data"),
    ca: CaOpt = None,
    insecure_http: InsecureOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Print a finished job's result: bars for histograms and grouped results, else its JSON."""
    if plot is not None and plot.suffix.lower() not in PLOT_FORMATS:
        raise typer.BadParameter("name a .svg or .png file", param_hint="--plot")

    def fetch(client: GatewayClient) -> Any:
        released = client.result(job_id)
        if released["result"].get("kind") == JobKind.ENCRYPTED_SCORING:
            if model is None:
                raise typer.BadParameter("the figures are encrypted: give --model (and --he-key)")
            scoring = _scoring_for(
                client, released["result"]["dataset"], model, he_key or data_dir / "he.key"
            )
            released["result"] = scoring.read(released["result"])
            return released
        if plot is not None:
            try:
                save_plot(released["result"], plot)
            except (ValueError, OSError) as error:  # an extract, a withheld regression, an unwritable path
                err_console.print(f"[red]error[/red] cannot draw the result: {error}")
                raise typer.Exit(2) from None
            err_console.print(f"drew the result into {plot}", highlight=False)
        return released

    show(url, token, data_dir, as_json, fetch, ca=ca, insecure_http=insecure_http, table=result_view)
