"""Offers from confirmed declarations, the terms file of ``publish``, and what a person signs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from contracts.agreement import draft_contract
from contracts.desensitize import MaskRule, RuleSet, SuppressRule
from contracts.extracts.terms import ExtractTerms
from contracts.identity import make_participant_id
from contracts.offers import DatasetOffer, Grade
from coordinator.localspace.demo_extract import EXTRACT_TERMS
from node.cli import app
from node.config import NodeConfig, load_config
from node.contract_book import ContractBook, Decision
from node.contract_view import _release
from node.exceptions import ConfigError
from node.journal import Journal
from node.offers import OfferNotReady, OfferTerms, build_offer
from node.publishing import prepare_offer
from node.terms import TermsFile, check_filters, offer_terms, read_extract_terms, read_terms

from .tables import kiln_log, quality_inspection

NOW = datetime(2025, 3, 1, tzinfo=UTC)
BUYER = make_participant_id("91110000MA01BUY7R")
runner = CliRunner()

TERMS = """\
purposes = ["energy_benchmarking", "research"]
regions = ["CN"]
kinds = ["count", "mean", "histogram"]
valid_days = 180
price_cny = "1200.50"
retention_days = 30

[budget]
max_jobs = 40
epsilon = 2.0
delta = 1e-7
noise = "central"

[minimums]
cohort = 4
rows_per_factory = 20
cell_rows = 50

[filters]
temperature = 50
timestamp = "day"
"""


def factory_node(directory: Path, index: int, *, confirm: bool = True) -> NodeConfig:
    pid = make_participant_id(f"913205{index:02d}MA1X2Y3L4")
    data = kiln_log(directory / "data" / "kiln.csv", seed=index)
    args = ["init", str(directory), "--participant-id", pid, "--data", str(data)]
    assert runner.invoke(app, args).exit_code == 0
    if confirm:
        assert runner.invoke(app, ["confirm", "kiln", "--dir", str(directory)]).exit_code == 0
    return load_config(directory / "node.toml")


def flat(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─┃━┏┓┗┛┡┩└┘┌┐├┤┼╇╈┳┻]", " ", text).split())


def test_terms_file_and_options(tmp_path: Path) -> None:
    path = tmp_path / "terms.toml"
    path.write_text(TERMS, encoding="utf-8")
    terms = offer_terms(read_terms(path), {"max_jobs": 10, "regions": None, "purposes": []})
    assert terms.purposes == ("energy_benchmarking", "research") and terms.regions == ("CN",)
    assert terms.job_kinds == ("count", "mean", "histogram") and terms.max_jobs == 10  # the option wins
    assert (terms.epsilon_budget, terms.valid_days, terms.price_cny, terms.retention_days) == (
        2.0, 180, "1200.50", 30,
    )  # fmt: skip
    assert terms.min_cohort == 4 and terms.privacy.min_rows_per_factory == 20
    assert (
        terms.privacy.min_cell_rows == 50
        and terms.privacy.delta == 1e-7
        and terms.privacy.noise_mode == "central"
    )
    defaults = offer_terms(TermsFile(), {"purposes": ["research"]})
    assert defaults == OfferTerms(purposes=("research",)) and "extract" not in defaults.job_kinds
    with pytest.raises(ConfigError, match="no purpose"):
        offer_terms(TermsFile(), {})
    path.write_text('purposes = ["research"]\n[budget]\nmax_job = 3\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"budget\.max_job"):
        read_terms(path)


def test_filters_of_the_terms_file_must_be_the_enforced_ones(tmp_path: Path) -> None:
    schema = factory_node(tmp_path, 0).dataset("kiln").schema
    check_filters({"temperature": 50, "timestamp": "day"}, schema)  # 50 is the step [850, 1450] gives
    with pytest.raises(ConfigError, match=r"temperature: node\.toml has filter_step 50.*restart the node"):
        check_filters({"temperature": 10}, schema)
    with pytest.raises(ConfigError, match=r"timestamp: node\.toml has filter_resolution 'day'"):
        check_filters({"timestamp": "hour"}, schema)
    with pytest.raises(ConfigError, match="kiln_id: a category field takes no"):
        check_filters({"kiln_id": 1}, schema)


def test_an_offer_carries_the_confirmed_tags_and_grades(tmp_path: Path) -> None:
    data = quality_inspection(tmp_path / "qc.csv")
    args = ["init", str(tmp_path), "--participant-id", make_participant_id("91320500MA1X2Y3L4"),
            "--data", f"quality={data}"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    config = load_config(tmp_path / "node.toml")
    with pytest.raises(OfferNotReady, match="not confirmed yet: inspected_at"):
        build_offer(config, "quality", OfferTerms(purposes=("research",)), NOW)
    assert runner.invoke(app, ["confirm", "quality", "--dir", str(tmp_path)]).exit_code == 0
    text = (tmp_path / "node.toml").read_text(encoding="utf-8")
    assert text.count('tag = "inspection_result"') == 1  # proposed from the column's name
    edited = text.replace('tag = "inspection_result"', 'tag = "product_type"')  # the factory knows better
    (tmp_path / "node.toml").write_text(edited, encoding="utf-8")
    offer = prepare_offer(
        load_config(tmp_path / "node.toml"), "quality", OfferTerms(purposes=("research",)), NOW
    )
    assert offer.tags["inspector"] == "person_name" and offer.grades["inspector"] is Grade.IMPORTANT
    assert offer.tags["result"] == "product_type"
    assert offer.excluded_fields == ("batch_id", "inspector")  # personal, and text
    assert offer.usable_fields() == ("inspected_at", "defect_count", "result")


def test_publish_refuses_what_is_not_ready(tmp_path: Path) -> None:
    factory_node(tmp_path, 0, confirm=False)
    base = ["publish", "kiln", "--dir", str(tmp_path)]
    unconfirmed = runner.invoke(app, [*base, "--purpose", "research"])
    assert unconfirmed.exit_code == 2 and "confirm kiln" in flat(unconfirmed.output)
    assert runner.invoke(app, ["confirm", "kiln", "--dir", str(tmp_path)]).exit_code == 0
    terms = tmp_path / "terms.toml"
    terms.write_text('purposes = ["research"]\n[filters]\ntemperature = 10\n', encoding="utf-8")
    finer = runner.invoke(app, [*base, "--terms", str(terms)])
    assert finer.exit_code == 2 and "filter_step 50" in flat(finer.output)
    terms.write_text(TERMS, encoding="utf-8")
    ready = runner.invoke(app, [*base, "--terms", str(terms)])
    assert ready.exit_code == 2 and "not enrolled yet" in flat(ready.output)  # every check passed
    unknown = runner.invoke(app, [*base, "--purpose", "espionage"])
    assert unknown.exit_code == 2 and "espionage" in flat(unknown.output)


def offers(tmp_path: Path, terms: OfferTerms) -> list[DatasetOffer]:
    return [build_offer(factory_node(tmp_path / f"f{i}", i), "kiln", terms, NOW) for i in range(3)]


def test_contracts_pending_and_show_print_the_terms(tmp_path: Path) -> None:
    declared = {
        "purposes": ["energy_benchmarking"],
        "price_cny": "300",
        "budget": {"max_jobs": 40, "epsilon": 2},
    }
    terms = offer_terms(TermsFile.model_validate(declared), {})
    contract = draft_contract("ctr_1", offers(tmp_path, terms), buyer=BUYER, operator="operator",
                              purpose="energy_benchmarking", region="CN", now=NOW)  # fmt: skip
    node_dir = tmp_path / "f0"
    ContractBook(node_dir / "contracts").record(contract, Decision.PENDING)
    pending = runner.invoke(app, ["contracts", "pending", "--dir", str(node_dir)], env={"COLUMNS": "200"})
    shown = runner.invoke(app, ["contracts", "show", "ctr_1", "--dir", str(node_dir)], env={"COLUMNS": "200"})
    for result in (pending, shown):
        assert result.exit_code == 0, result.output
        text = flat(result.output)
        for expected in (
            "contract ctr_1: REQUESTED, decision pending", f"buyer {BUYER}",
            "purpose energy_benchmarking (能效对标", "buyer region CN", "job kinds count, histogram,",
            "fields measured temperature, fuel_rate", "group by kiln_id", "max jobs 40", "epsilon budget 2",
            "min cohort 3 factories", "min rows per factory 10", "min rows per cell 30",
            "valid 2025-03-01 00:00 UTC to 2026-03-01 00:00 UTC", "temperature number - temperature general "
            "[850, 1450] (clipped) steps of 50", "timestamp timestamp - timestamp general - whole days",
            "300 CNY", "total 900 CNY", "delete_after (90 days)", "no desensitization rules",
        ):  # fmt: skip
            assert expected in text, (expected, text)
    assert "1 pending" in flat(pending.output)
    missing = runner.invoke(app, ["contracts", "show", "ctr_2", "--dir", str(node_dir)])
    assert missing.exit_code == 2 and "no contract ctr_2" in missing.output
    listed = runner.invoke(app, ["contracts", "list", "--dir", str(node_dir), "--json"])
    assert '"contract_id": "ctr_1"' in listed.output


def test_desensitization_rules_are_found_in_the_terms() -> None:
    class Release(BaseModel):
        rules: RuleSet
        k: int

    class Terms(BaseModel):
        release: Release | None

    rules = RuleSet(fields={"operator_mobile": MaskRule(keep_last=4), "note": SuppressRule(mode="drop")})
    found, others = _release(Terms(release=Release(rules=rules, k=5)))
    assert found[0][:2] == ("operator_mobile", "mask") and "keep_last=4" in found[0][2]
    assert found[1] == ("note", "suppress", "mode=drop") and others == [("release k", "5")]
    assert _release(Terms(release=None)) == ([], [])


def test_the_readme_terms_file_reads(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = (
        readme.split("A terms file for `publish --terms`", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    )
    path = tmp_path / "terms.toml"
    path.write_text(block, encoding="utf-8")
    terms = offer_terms(read_terms(path), {})
    assert terms.purposes == ("energy_benchmarking", "quality_improvement") and terms.epsilon_budget == 2.0
    assert read_terms(path).filters == {"temperature": 50, "timestamp": "day"}


def test_the_readme_extract_terms_read_as_a_table_and_as_their_own_file(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n[extract]\n", 1)[1].split("```", 1)[0]
    terms_file = tmp_path / "terms.toml"
    terms_file.write_text('purposes = ["research"]\n[extract]\n' + block, encoding="utf-8")
    from_table = read_terms(terms_file).extract
    assert from_table == ExtractTerms.model_validate(EXTRACT_TERMS)  # what the demo publishes
    assert from_table is not None and from_table.max_suppression == 0.05
    own = tmp_path / "extract.json"
    own.write_text(from_table.model_dump_json(), encoding="utf-8")
    assert read_extract_terms(own) == from_table
    own.write_text('{"rules": {"fields": {"line": {"op": "scramble"}}}, "quasi_identifiers": []}')
    with pytest.raises(ConfigError, match=r"invalid extract\.json: rules\.fields\.line"):
        read_extract_terms(own)
    own.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        read_extract_terms(own)


def test_a_file_unreadable_for_now_is_published_with_a_warning(tmp_path: Path) -> None:
    config = factory_node(tmp_path, 0)
    path = config.dataset("kiln").paths[0]
    path.write_bytes(path.read_bytes()[:-1])  # the last line is still being written
    warnings: list[str] = []
    offer = prepare_offer(config, "kiln", OfferTerms(purposes=("research",)), NOW, warnings.append)
    assert offer.dataset == "kiln"
    assert len(warnings) == 1 and warnings[0].startswith("data_unreadable: the last line has no line break")
    path.unlink()
    with pytest.raises(OfferNotReady, match="data_missing"):
        prepare_offer(config, "kiln", OfferTerms(purposes=("research",)), NOW)


def test_journal_json_is_one_array_like_every_json_output(tmp_path: Path) -> None:
    empty = runner.invoke(app, ["journal", "--dir", str(tmp_path), "--json"])
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    journal = Journal(tmp_path / "journal.jsonl")
    journal.record(NOW, "connected", target="coordinator:7443")
    journal.record(NOW, "job_refused", job_id="job_1", code="query_count", reason="the contract's 5 jobs ran")
    printed = runner.invoke(app, ["journal", "--dir", str(tmp_path), "--json"])
    assert printed.exit_code == 0
    entries = json.loads(printed.stdout)
    assert [e["event"] for e in entries] == ["connected", "job_refused"] and entries[1][
        "code"
    ] == "query_count"
