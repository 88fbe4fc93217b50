"""A refused contract move tells the user the command that moves the contract on."""

from __future__ import annotations

import pytest

from coordinator.client import cli_common
from coordinator.client.gateway import GatewayError


def refusal(stage: str) -> GatewayError:
    details = {"current_state": stage, "event": "sign", "actor": "91110000MA01BUY7R"}
    message = f"sign is not allowed in state {stage}; the contract awaits the buyer's agreement"
    return GatewayError(409, "illegal_transition", message, details)


@pytest.mark.parametrize(
    ("stage", "command"),
    [("OFFERED", "dataspace contract agree ctr_1"), ("AGREED", "dataspace contract sign ctr_1 --key-file")],
)
def test_the_next_command_follows_an_illegal_move(
    stage: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_ = cli_common.fail(refusal(stage), "ctr_1")
    assert exit_.exit_code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "illegal_transition: sign is not allowed" in err and f"next: {command}" in err


def test_no_hint_without_a_contract_or_for_other_errors(capsys: pytest.CaptureFixture[str]) -> None:
    cli_common.fail(refusal("OFFERED"))
    cli_common.fail(GatewayError(422, "purpose_not_allowed", "no offer allows it", {}), "ctr_1")
    assert "next:" not in capsys.readouterr().err
