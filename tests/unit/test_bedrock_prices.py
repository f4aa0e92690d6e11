"""The price table: its document format and checks, lookups by the ids jobs name, layering,
the shipped defaults, and how the refresh reads Price List products (all pure)."""

from __future__ import annotations

import json
import math
from datetime import date
from importlib import resources
from typing import Any

import pytest

from dropzone.settings.bedrock import BedrockSettings
from dropzone.workflows.bedrock.price_refresh import (
    PRICE_LIST_NAMES,
    normalise_name,
    price_row,
    refreshed_document,
)
from dropzone.workflows.bedrock.prices import (
    InvalidPriceTable,
    ModelPrice,
    PriceTable,
    TokenPrices,
)
from tests.support.price_list import AMAZON_BEDROCK, MARKETPLACE, bedrock, decoded, marketplace

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def document(models: dict[str, Any], **top: Any) -> str:
    return json.dumps({"checked": "2026-12-01", "currency": "USD", "models": models, **top})


def prices(input_per_1k: Any, output_per_1k: Any) -> dict[str, Any]:
    return {"input_per_1k": input_per_1k, "output_per_1k": output_per_1k}


def problem(models: dict[str, Any] | None = None, **top: Any) -> str:
    with pytest.raises(InvalidPriceTable) as raised:
        PriceTable.from_json(document(models or {}, **top), "s3://prices/table.json")
    return str(raised.value)


# ------------------------------------------------------------------------------ format


def test_a_document_gives_each_model_both_modes_with_its_date_and_source() -> None:
    table = PriceTable.from_json(
        document(
            {
                HAIKU: {
                    "batch": prices(0.000125, 0.000625),
                    "on_demand": prices(0.00025, 0.00125),
                    "checked": "2026-11-30",
                }
            }
        ),
        "ssm:/dropzone/prod/prices",
    )
    price = table.price(HAIKU)
    assert price == ModelPrice(
        HAIKU,
        TokenPrices(0.000125, 0.000625),
        TokenPrices(0.00025, 0.00125),
        "2026-11-30",
        "ssm:/dropzone/prod/prices",
    )
    assert price.for_mode("on_demand").cost(2000, 1000) == pytest.approx(0.00175)


def test_a_model_without_its_own_date_takes_the_documents() -> None:
    table = PriceTable.from_json(document({HAIKU: {"batch": prices(1, 2)}}), "x")
    assert table.models[HAIKU].checked == "2026-12-01"


def test_the_mode_left_out_follows_from_the_other_at_twice_or_half() -> None:
    table = PriceTable.from_json(
        document(
            {
                "only-on-demand": {"on_demand": prices(0.0008, 0.0032)},
                "only-batch": {"batch": prices(0.0004, 0.0016)},
            }
        ),
        "x",
    )
    assert table.models["only-on-demand"].batch == TokenPrices(0.0004, 0.0016)
    assert table.models["only-batch"].on_demand == TokenPrices(0.0008, 0.0032)


@pytest.mark.parametrize(
    ("models", "top", "expected"),
    [
        ({HAIKU: {"batch": prices(-0.1, 0.2)}}, {}, f"models.{HAIKU}.batch.input_per_1k"),
        ({HAIKU: {"batch": prices("0.1", 0.2)}}, {}, "must be a number, got a string"),
        ({HAIKU: {"batch": prices(True, 0.2)}}, {}, "must be a number, got a boolean"),
        ({HAIKU: {"batch": {"input_per_1k": 0.1}}}, {}, "batch.output_per_1k: missing"),
        ({HAIKU: {"batch": prices(0, 0)}}, {}, "both prices are 0"),
        ({HAIKU: {"checked": "2026-12-01"}}, {}, "gives neither batch nor on_demand"),
        ({HAIKU: {"ondemand": prices(1, 2)}}, {}, f"models.{HAIKU}.ondemand: unknown field"),
        ({HAIKU: {"batch": prices(1, 2), "checked": "2026-13-01"}}, {}, "must be a real date"),
        ({HAIKU: {"batch": prices(1, 2), "checked": "1 Dec 2026"}}, {}, "written YYYY-MM-DD"),
        ({HAIKU: [1, 2]}, {}, "must be an object with batch and/or on_demand, got an array"),
        ({HAIKU: {"batch": prices(1, 2)}}, {"currency": "EUR"}, "currency: must be 'USD'"),
        ({HAIKU: {"batch": prices(1, 2)}}, {"checked": None}, "checked: must be a date"),
        ({HAIKU: {"batch": prices(1, 2)}}, {"model": {}}, "model: unknown field"),
        ({}, {}, "models: names no model"),
        (
            {HAIKU: {"batch": prices(1, 2)}, HAIKU.upper(): {"batch": prices(1, 2)}},
            {},
            "names the same model as",
        ),
    ],
)
def test_every_problem_names_its_model_and_field_and_why(
    models: dict[str, Any], top: dict[str, Any], expected: str
) -> None:
    message = problem(models, **top)
    assert message.startswith("s3://prices/table.json: ")
    assert expected in message


def test_all_problems_are_told_at_once() -> None:
    message = problem({"a": {"batch": prices(-1, 2)}, "b": {"on_demand": prices(1, "x")}})
    assert "models.a.batch.input_per_1k" in message
    assert "models.b.on_demand.output_per_1k" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"\xff\xfe", "not UTF-8 text"),
        ("{", "not valid JSON: Expecting property name"),
        ('{"models": NaN}', "not valid JSON: NaN is not a number JSON allows"),
        ("[]", "must be a JSON object, got an empty array"),
    ],
)
def test_a_document_that_is_not_a_json_object_is_refused(text: str | bytes, expected: str) -> None:
    with pytest.raises(InvalidPriceTable, match=expected):
        PriceTable.from_json(text, "x")


def test_token_prices_refuse_what_no_document_may_hold() -> None:
    with pytest.raises(ValueError, match="finite number"):
        TokenPrices(math.inf, 1)
    with pytest.raises(ValueError, match="negative"):
        TokenPrices(1, 1).cost(-1, 0)
    with pytest.raises(ValueError, match="unknown mode"):
        PriceTable.shipped().models[HAIKU].for_mode("provisioned")


def test_a_table_written_out_reads_back_the_same() -> None:
    shipped = PriceTable.shipped()
    again = PriceTable.from_json(shipped.to_json(), "shipped")
    assert again == shipped
    assert json.loads(shipped.to_json())["checked"] == max(
        price.checked for price in shipped.models.values()
    )


# ------------------------------------------------------------------------------ lookups


@pytest.mark.parametrize(
    "model_id",
    [
        HAIKU,
        HAIKU.upper(),
        f"us.{HAIKU}",
        f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}",
        f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{HAIKU}",
        f"{HAIKU}:200k",
    ],
)
def test_a_model_is_found_by_every_id_a_job_may_name(model_id: str) -> None:
    price = PriceTable.shipped().price(model_id)
    assert price is not None and price.model_id == HAIKU


def test_a_profile_priced_on_its_own_is_found_before_its_model() -> None:
    sonnet = "anthropic.claude-sonnet-4-6"
    table = PriceTable.shipped()
    assert table.price(f"global.{sonnet}").model_id == f"global.{sonnet}"  # type: ignore[union-attr]
    assert table.price(f"us.{sonnet}").model_id == sonnet  # type: ignore[union-attr]
    assert (
        table.price(f"global.{sonnet}").on_demand.input_per_1k  # type: ignore[union-attr]
        < table.price(f"us.{sonnet}").on_demand.input_per_1k  # type: ignore[union-attr]
    )


def test_an_application_profile_can_be_priced_by_its_arn() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
    table = PriceTable.from_json(document({arn: {"batch": prices(1, 2)}}), "x")
    assert table.price(arn) is not None
    assert PriceTable.shipped().price(arn) is None


def test_an_unknown_model_has_no_price() -> None:
    assert PriceTable.shipped().price("acme.unheard-of-v1:0") is None


def test_a_table_over_another_wins_for_its_models_only() -> None:
    override = PriceTable.from_json(document({HAIKU: {"batch": prices(1, 2)}}), "ssm:/x")
    table = override.over(PriceTable.shipped())
    assert table.price(HAIKU).source == "ssm:/x"  # type: ignore[union-attr]
    assert table.price("amazon.nova-lite-v1:0").source == "shipped"  # type: ignore[union-attr]
    assert len(table) == len(PriceTable.shipped())


# ------------------------------------------------------------------------------ shipped


def test_the_shipped_table_is_dated_us_east_1_list_prices() -> None:
    raw = json.loads(
        resources.files("dropzone.workflows.bedrock").joinpath("prices.json").read_text()
    )
    assert raw["region"] == "us-east-1" and raw["currency"] == "USD"
    table = PriceTable.shipped()
    checked = {price.checked for price in table.models.values()}
    assert all(date.fromisoformat(day) <= date.fromisoformat(raw["checked"]) for day in checked)
    assert {price.source for price in table.models.values()} == {"shipped"}


def test_the_shipped_on_demand_prices_are_twice_the_batch_prices() -> None:
    for model_id, price in PriceTable.shipped().models.items():
        assert price.on_demand.input_per_1k == pytest.approx(2 * price.batch.input_per_1k), model_id
        assert price.on_demand.output_per_1k == pytest.approx(2 * price.batch.output_per_1k), (
            model_id
        )


@pytest.mark.parametrize(
    "model_id",
    [
        HAIKU,
        "amazon.nova-lite-v1:0",
        "amazon.titan-text-express-v1",
        "meta.llama3-1-8b-instruct-v1:0",
    ],
)
def test_the_shipped_table_prices_the_models_the_examples_use(model_id: str) -> None:
    assert PriceTable.shipped().price(model_id) is not None


def test_every_model_the_refresh_maps_is_shipped_too() -> None:
    shipped = PriceTable.shipped()
    assert [model for model in PRICE_LIST_NAMES.values() if shipped.price(model) is None] == []


# ------------------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    "location",
    ["", "s3://dropzone-results/bedrock-batch/prices/override.json", "ssm:/dropzone/prod/prices"],
)
def test_the_override_may_name_the_stacks_own_places(location: str) -> None:
    settings = BedrockSettings.from_env(_environment(PRICE_TABLE=location))
    assert settings.price_table == location


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("s3://elsewhere/bedrock-batch/prices/x.json", "the stack's results bucket"),
        ("s3://dropzone-results/bedrock-batch/prices/price-list.json", "the refreshed copy"),
        ("s3://dropzone-results/other/x.json", "PRICE_TABLE"),
        ("ssm:/other/prices", "PRICE_TABLE"),
        ("https://example.com/prices.json", "PRICE_TABLE"),
    ],
)
def test_the_override_is_checked_at_cold_start(location: str, reason: str) -> None:
    from dropzone.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=reason):
        BedrockSettings.from_env(_environment(PRICE_TABLE=location))


def _environment(**values: str) -> dict[str, str]:
    return {
        "JOBS_TABLE": "dropzone-jobs",
        "RESULTS_BUCKET": "dropzone-results",
        "SLOTS_TABLE": "dropzone-slots",
        **values,
    }


# ------------------------------------------------------------------------------ refresh


def test_the_refresh_reads_standard_token_prices_of_the_models_it_maps() -> None:
    products = decoded(AMAZON_BEDROCK + MARKETPLACE)
    found, report = refreshed_document(products, "us-east-1", "2026-12-06")
    assert found is not None
    table = PriceTable.from_json(json.dumps(found), "pricing:GetProducts")
    assert {model: (p.batch, p.on_demand) for model, p in table.models.items()} == {
        "amazon.nova-pro-v1:0": (TokenPrices(0.0004, 0.0016), TokenPrices(0.0008, 0.0032)),
        "anthropic.claude-sonnet-4-6": (
            TokenPrices(0.00165, 0.00825),
            TokenPrices(0.0033, 0.0165),
        ),
        "global.anthropic.claude-sonnet-4-6": (
            TokenPrices(0.0015, 0.0075),
            TokenPrices(0.003, 0.015),
        ),
    }
    assert {p.checked for p in table.models.values()} == {"2026-12-06"}
    # Claude 3 Haiku has an input price alone; Haiku 4.5's input products disagree.
    assert report["incomplete"] == [HAIKU]
    assert report["conflicting"] == ["anthropic.claude-haiku-4-5-20251001-v1:0"]
    assert report["unmapped"] == ["glm 5"]


def test_an_embeddings_model_is_priced_from_its_input_alone() -> None:
    embeddings = bedrock(
        "E1",
        "Titan Text Embeddings V2",
        "Input tokens",
        "USE1-TitanEmbeddingV2-Text-input-tokens",
        "0.0000200000",
    )
    found, _ = refreshed_document(decoded([embeddings]), "us-east-1", "2026-12-06")
    assert found is not None
    assert found["models"]["amazon.titan-embed-text-v2:0"]["on_demand"] == prices(0.00002, 0.0)


@pytest.mark.parametrize(
    "entry",
    [
        bedrock("X1", "Nova Pro", "Input tokens", "USE1-NovaPro-input-tokens", "n/a"),
        bedrock("X2", "Nova Pro", "Input tokens", "USE1-NovaPro-input-tokens", "-1"),
        bedrock(
            "X3", "Nova Pro", "Input tokens", "USE1-NovaPro-input-tokens", "1", feature="Other"
        ),
        marketplace("X4", "Claude Sonnet 4.6", "USE1-MP:USE1_InputTokenCount-Units", "3", "Hours"),
        bedrock("X5", "Nova Pro", "Image tokens", "USE1-NovaPro-image-tokens", "0.0008"),
    ],
)
def test_a_product_whose_price_cannot_be_read_for_certain_is_left_out(entry: str) -> None:
    assert price_row(json.loads(entry), "us-east-1") is None


def test_nothing_usable_makes_no_document() -> None:
    found, report = refreshed_document(decoded(AMAZON_BEDROCK[4:8]), "us-east-1", "2026-12-06")
    assert found is None
    assert report["incomplete"] == [HAIKU]


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Claude Sonnet 4.5 (Amazon Bedrock Edition)", "claude sonnet 4.5"),
        ("Titan Text G1 - Express", "titan text g1 express"),
        ("Mistral Large (24.02)", "mistral large 24.02"),
        ("  Nova  Pro ", "nova pro"),
    ],
)
def test_price_list_names_are_compared_without_punctuation_or_case(
    name: str, normalised: str
) -> None:
    assert normalise_name(name) == normalised
