"""The buyer's Python SDK: ``Dataspace`` does what the ``dataspace`` CLI does, ``JobResult`` reads a result.

It is a thin layer over ``coordinator.client.gateway.GatewayClient`` (reached as ``Dataspace.client``):
the same HTTPS trust, bearer token, signing and polling as the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coordinator.client import results
from coordinator.client.gateway import (
    DEFAULT_DATA_DIR,
    AuthenticationError,
    ConflictError,
    GatewayClient,
    GatewayError,
    GoneError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from coordinator.client.plots import save_plot
from coordinator.client.results import Figure
from coordinator.client.trust import GatewayTrustError, InsecureUrlError, MissingCaError

if TYPE_CHECKING:
    import pandas

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "Dataspace",
    "GatewayError",
    "GatewayTrustError",
    "GoneError",
    "InsecureUrlError",
    "InvalidRequestError",
    "JobFailedError",
    "JobResult",
    "MissingCaError",
    "NotFoundError",
    "PermissionDeniedError",
]

Progress = Callable[[dict[str, Any], float], None]


class JobFailedError(Exception):
    """The job ended FAILED or CANCELLED; ``job`` is its final status, ``reason`` why."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job, self.state, self.reason = job, str(job.get("state")), job.get("reason")
        super().__init__(f"job {job.get('id')} {self.state}: {self.reason or 'no reason given'}")


@dataclass(frozen=True)
class JobResult:
    """A finished job's released result: ``raw`` as the gateway sent it, ``frame()`` for pandas."""

    job_id: str
    raw: dict[str, Any]
    contributors: int | None = None

    @property
    def kind(self) -> str:
        return str(self.raw.get("kind"))

    @property
    def privacy(self) -> dict[str, Any] | None:
        """ε, δ, ρ, mechanism and noise per statistic when the job spent a privacy budget, else None."""
        privacy: dict[str, Any] | None = self.raw.get("privacy")
        return privacy

    def figures(self) -> list[Figure]:
        """One ``Figure`` per figure and group, withheld ones included (an extract has none)."""
        return results.figures(self.raw)

    def frame(self) -> pandas.DataFrame:
        """The result as a pandas DataFrame (pandas is imported here: install it to call this).

        A statistics result has one row per figure of each group, with the columns ``results.COLUMNS``:
        ``group`` (None when ungrouped), ``figure`` (``n``, ``sum``, ``mean``, ``variance``, ``std``; a bin
        ``[lo, hi)`` and ``out_of_range`` of a histogram; ``coefficient:NAME``, ``r_squared``,
        ``residual_std_error``, ``n``, ``dof`` of a regression), ``value``, ``noise_std`` (standard
        deviation of the privacy noise in the figure), ``std_error`` (a coefficient's sampling error),
        ``ci_low``/``ci_high`` (value ± 1.96 times both errors combined; NaN when none is stated),
        ``fixed_point_max_abs_error`` (the result's bound on the rounding of each summed term),
        ``withheld`` and its ``reason``, ``contributors`` (factories behind a released cell) and
        ``bin_low``/``bin_high``. An extract gives its released rows, one column per released field.
        ``frame().attrs`` holds the job id, kind, dataset, field, unit, group_by and privacy.
        """
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError(
                "JobResult.frame() needs pandas (pip install pandas); .figures() and .raw need nothing"
            ) from error
        if self.kind == "extract":
            frame = pd.DataFrame(self.raw.get("rows", []), columns=self.raw.get("columns"))
        else:
            frame = pd.DataFrame(results.rows(self.raw), columns=list(results.COLUMNS))
            frame["withheld"] = frame["withheld"].astype(bool)
            frame["contributors"] = frame["contributors"].astype("Int64")
        keys = ("kind", "dataset", "field", "unit", "group_by", "privacy")
        frame.attrs = {"job_id": self.job_id} | {k: self.raw[k] for k in keys if k in self.raw}
        return frame

    def plot(self, path: str | Path, *, size: tuple[int, int] = (960, 540)) -> Path:
        """Draw the result into ``path``, PNG or SVG by its suffix, ``size`` in pixels; return the path."""
        return save_plot(self.raw, path, size=size)


class Dataspace:
    """A buyer's session with the gateway.

    ``url`` must be ``https://``, verified against the operator CA: ``ca`` (a file, or its PEM bytes),
    else ``ca.crt`` of ``data_dir``, else ``dataspace-ca.crt`` as saved by ``dataspace enroll``; plain
    ``http://`` only with ``insecure_http``. ``key_file`` (or ``signing_key``) is the contract-signing key
    ``dataspace enroll`` made; it signs here and never leaves the session.

    A refused request raises a ``GatewayError`` subclass named for its status (``AuthenticationError``,
    ``PermissionDeniedError``, ``NotFoundError``, ``ConflictError``, ``GoneError``,
    ``InvalidRequestError``) with the gateway's ``code``, ``message`` and ``details``; a job that ends
    unsuccessfully raises ``JobFailedError``, a wait that runs out ``TimeoutError``; an unusable URL or CA
    ``GatewayTrustError``; a gateway that cannot be reached ``httpx.TransportError``.

        with Dataspace(url, token, ca="dataspace-ca.crt", key_file="dataspace-buyer.key") as ds:
            result = ds.run(kind="mean", dataset="plant", field="temp", group_by="shift",
                            contract_id=contract_id, epsilon=0.5)
            result.frame()  # one row per figure and group
            result.plot("temp.svg")
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        ca: str | Path | bytes | None = None,
        data_dir: str | Path = DEFAULT_DATA_DIR,
        insecure_http: bool = False,
        timeout: float = 30.0,
        key_file: str | Path | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        participant_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if signing_key is None and key_file is not None:
            signing_key = Ed25519PrivateKey.from_private_bytes(Path(key_file).read_bytes())
        ca_source = Path(ca) if isinstance(ca, str) else ca
        self.client = GatewayClient.connect(
            url, token, ca=ca_source, data_dir=Path(data_dir), insecure_http=insecure_http,
            timeout=timeout, transport=transport,
        )  # fmt: skip
        self.client.signing_key, self.client.participant_id = signing_key, participant_id

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Dataspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- what there is ---------------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        """The participant id and role the token speaks for."""
        return self.client.me()

    def offers(self) -> list[dict[str, Any]]:
        return self.client.offers()

    def catalog(self, q: str | None = None, **query: Any) -> dict[str, Any]:
        """One page of the catalogue search: ``{"total", "limit", "offset", "offers"}``.

        ``query`` takes the filters of ``dataspace catalog`` (``tag``, ``kind``, ``purpose``, ``region``,
        ``max_grade``, ``min_rows``, ``max_price``, ``sort``, ``order``, ``limit``, ``offset`` …).
        """
        return self.client.catalog(q=q, **query)

    def contracts(self) -> list[dict[str, Any]]:
        return self.client.contracts()

    def contract(self, contract_id: str) -> dict[str, Any]:
        return self.client.contract(contract_id)

    def jobs(self) -> list[dict[str, Any]]:
        return self.client.jobs()

    def job(self, job_id: str) -> dict[str, Any]:
        return self.client.job(job_id)

    # -- contracts -------------------------------------------------------------------------------
    def propose_contract(self, offer_ids: list[str], purpose: str, region: str = "CN") -> dict[str, Any]:
        return self.client.propose_contract(offer_ids, purpose, region)

    def agree(self, contract_id: str) -> dict[str, Any]:
        return self.client.contract_move(contract_id, "agree")

    def sign_contract(self, contract_id: str) -> dict[str, Any]:
        """Sign the terms here with the buyer's key; only the signature is sent (``contract sign``)."""
        self._know_who_signs()
        return self.client.sign_contract(contract_id)

    def negotiate(self, offer_ids: list[str], purpose: str, region: str = "CN", timeout: float = 60.0) -> str:
        """Propose, agree and sign in one go; return the id of the FINALIZED contract."""
        self._know_who_signs()
        return self.client.negotiate(offer_ids, purpose, region, timeout)

    def _know_who_signs(self) -> None:
        if self.client.signing_key is None:
            raise ValueError("this session holds no signing key: pass key_file= or signing_key=")
        if self.client.participant_id is None:  # as the CLI: the participant the token speaks for
            self.client.participant_id = str(self.me()["participant_id"])

    # -- jobs ------------------------------------------------------------------------------------
    def submit(
        self,
        spec: Mapping[str, Any] | None = None,
        /,
        *,
        contract_id: str | None = None,
        epsilon: float | None = None,
        purpose: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Submit a job from a spec dict, keywords, or both (keywords win); return its status.

        Keywords are the spec's fields (``kind``, ``dataset``, ``field``, ``group_by``, ``bins``,
        ``filters`` …); one given as None is left out. ``contract_id``, ``epsilon`` and ``purpose``
        override the spec's, as ``dataspace job submit`` does.
        """
        body = {**(spec or {}), **{k: v for k, v in fields.items() if v is not None}}
        overrides = {"contract_id": contract_id, "epsilon": epsilon, "purpose": purpose}
        body |= {k: v for k, v in overrides.items() if v is not None}
        if self.client.signing_key is not None:  # the order is signed with the key this session holds
            self._know_who_signs()
        return self.client.submit_job(body)

    def wait(
        self, job_id: str, *, timeout: float = 600.0, poll: float = 0.2, progress: Progress | None = None
    ) -> JobResult:
        """Poll until the job ends and return its result; ``progress(status, seconds_waited)`` sees each poll.

        Raises ``JobFailedError`` if it failed or was cancelled, ``TimeoutError`` after ``timeout`` s.
        """
        job = self.client.wait(job_id, timeout=timeout, poll=poll, progress=progress)
        if job["state"] != "SUCCEEDED":
            raise JobFailedError(job)
        return self.result(job_id)

    def result(self, job_id: str) -> JobResult:
        """A finished job's result (``ConflictError`` while it has none)."""
        released = self.client.result(job_id)
        return JobResult(str(released["id"]), released["result"], released.get("contributors"))

    def run(
        self,
        spec: Mapping[str, Any] | None = None,
        /,
        *,
        timeout: float = 600.0,
        progress: Progress | None = None,
        **submission: Any,
    ) -> JobResult:
        """``submit`` then ``wait``: the job's result, or the error of either."""
        job = self.submit(spec, **submission)
        return self.wait(str(job["id"]), timeout=timeout, progress=progress)
