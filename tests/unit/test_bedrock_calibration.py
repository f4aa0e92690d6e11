"""Calibrating an upload's input-token estimate with CountTokens on a sample of its records:
which records, which models, and what the count says or why it stopped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from dropzone.adapters.bedrock import Backpressure
from dropzone.adapters.bedrock_runtime import (
    CountTokensDenied,
    CountTokensRefused,
    CountTokensUnsupported,
)
from dropzone.errors import TransientError
from dropzone.workflows.bedrock.calibration import (
    DISABLED,
    MAX_CALLS,
    MAX_RATIO,
    MIN_RATIO,
    NO_RECORDS,
    Calibration,
    calibrate,
    sample_lines,
    supports_count_tokens,
)

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"


@dataclass
class ScriptedCount:
    """A stand-in for CountTokens: answers (an int) or errors, one per call, in order."""

    answers: Sequence[int | Exception]
    calls: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def __call__(self, model_input: dict[str, Any], invocation_type: str) -> int:
        self.calls.append((model_input, invocation_type))
        answer = self.answers[len(self.calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _samples(*estimates: int) -> list[tuple[dict[str, Any], str, int]]:
    return [
        ({"messages": [f"record {n}"]}, "InvokeModel", tokens) for n, tokens in enumerate(estimates)
    ]


# -- which records ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "limit", "expected"),
    [
        (10, 5, [1, 3, 5, 7, 9]),
        (100, 3, [16, 50, 83]),
        (50_000, 5, [5_000, 15_000, 25_000, 35_000, 45_000]),
        (2, 1, [1]),
        (3, 5, [0, 1, 2]),
        (5, 5, [0, 1, 2, 3, 4]),
        (0, 5, []),
        (7, 0, []),
        (-1, 3, []),
    ],
)
def test_sampled_records_are_spread_evenly_over_the_upload(
    total: int, limit: int, expected: list[int]
) -> None:
    assert sample_lines(total, limit) == expected


@pytest.mark.parametrize("total", [1, 2, 6, 7, 99, 101, 4_999, 50_000])
@pytest.mark.parametrize("limit", [1, 2, 5, 6])
def test_sampled_records_are_distinct_in_order_within_the_upload_and_the_same_each_time(
    total: int, limit: int
) -> None:
    positions = sample_lines(total, limit)
    assert len(positions) == min(total, limit)
    assert positions == sorted(set(positions))
    assert all(0 <= position < total for position in positions)
    assert sample_lines(total, limit) == positions


# -- which models ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "supported"),
    [
        (CLAUDE, True),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", True),
        (f"arn:aws:bedrock:us-west-2::foundation-model/{CLAUDE}", True),
        ("meta.llama3-8b-instruct-v1:0", True),  # asked: a refusal becomes the note
        (f"us.{CLAUDE}", False),
        (f"eu.{CLAUDE}", False),
        (f"global.{CLAUDE}", False),
        (f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{CLAUDE}", False),
        ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2", False),
        ("amazon.nova-lite-v1:0", False),
        ("amazon.titan-text-express-v1", False),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0", False),
    ],
)
def test_only_models_that_may_count_are_asked(model_id: str, supported: bool) -> None:
    assert supports_count_tokens(model_id) is supported


# -- what the count says ---------------------------------------------------------------------


def test_the_ratio_is_the_counted_over_the_estimated_tokens_of_the_sampled_records() -> None:
    # Given
    count = ScriptedCount([120, 60, 90])
    samples = _samples(100, 40, 60)
    # When
    calibration = calibrate(samples, count, max_calls=5)
    # Then
    assert calibration == Calibration("CountTokens", 3, 200, 270, 1.35, None)
    assert count.calls == [(model_input, "InvokeModel") for model_input, _, _ in samples]
    assert calibration.as_dict() == {
        "source": "CountTokens",
        "sampled": 3,
        "estimated": 200,
        "counted": 270,
        "ratio": 1.35,
        "note": None,
    }


def test_no_more_calls_than_allowed_are_made() -> None:
    count = ScriptedCount([10] * 8)
    calibration = calibrate(_samples(*[10] * 8), count, max_calls=3)
    assert len(count.calls) == 3
    assert (calibration.sampled, calibration.ratio) == (3, 1.0)


def test_the_default_allowance_is_a_few_calls() -> None:
    count = ScriptedCount([10] * 20)
    calibrate(_samples(*[10] * 20), count)
    assert len(count.calls) == MAX_CALLS == 5


@pytest.mark.parametrize(
    ("counted", "ratio", "measured"),
    [(1_000, MAX_RATIO, "10.00"), (5, MIN_RATIO, "0.05"), (400, 4.0, None), (50, 0.5, None)],
)
def test_a_ratio_far_from_one_is_held_to_the_sane_range_and_says_so(
    counted: int, ratio: float, measured: str | None
) -> None:
    calibration = calibrate(_samples(100), ScriptedCount([counted]), max_calls=5)
    assert (calibration.counted, calibration.ratio) == (counted, ratio)
    if measured is None:
        assert calibration.note is None
    else:
        assert calibration.note == f"measured ratio {measured} held to {MIN_RATIO}..{MAX_RATIO}"


def test_a_throttle_stops_the_count_at_once_and_keeps_what_was_counted() -> None:
    # Given
    count = ScriptedCount(
        [150, Backpressure("CountTokens on m: ThrottlingException: slow down"), 1]
    )
    # When
    calibration = calibrate(_samples(100, 100, 100, 100), count, max_calls=4)
    # Then: the third record is never asked
    assert len(count.calls) == 2
    assert (calibration.sampled, calibration.estimated, calibration.counted) == (1, 100, 150)
    assert calibration.ratio == 1.5
    assert calibration.note is not None
    assert calibration.note.startswith("stopped after 1 of 4 calls, throttled: ")
    assert "ThrottlingException" in calibration.note


def test_a_failing_service_stops_the_count_too() -> None:
    count = ScriptedCount(
        [TransientError("CountTokens on m failed with InternalServerException: x")]
    )
    calibration = calibrate(_samples(100, 100), count, max_calls=5)
    assert len(count.calls) == 1
    assert (calibration.sampled, calibration.ratio) == (0, None)
    assert calibration.note == (
        "stopped after 0 of 2 calls: CountTokens on m failed with InternalServerException: x"
    )


@pytest.mark.parametrize(
    "error",
    [
        CountTokensUnsupported("m cannot count tokens: The provided model doesn't support it."),
        CountTokensDenied("CountTokens on m denied: not authorized to perform bedrock:CountTokens"),
    ],
)
def test_a_model_that_cannot_count_or_a_role_that_may_not_stops_at_the_first_call(
    error: Exception,
) -> None:
    count = ScriptedCount([error, 10])
    calibration = calibrate(_samples(100, 100), count, max_calls=5)
    assert len(count.calls) == 1
    assert calibration == Calibration("CountTokens", 0, 0, 0, None, str(error))


def test_a_refused_record_is_skipped_and_the_others_still_count() -> None:
    count = ScriptedCount(
        [CountTokensRefused("CountTokens refused the input: Malformed input"), 80]
    )
    calibration = calibrate(_samples(100, 40), count, max_calls=5)
    assert len(count.calls) == 2
    assert (calibration.sampled, calibration.estimated, calibration.counted) == (1, 40, 80)
    assert calibration.ratio == 2.0
    assert calibration.note == (
        "record 1 of the sample skipped: CountTokens refused the input: Malformed input"
    )


def test_records_estimated_at_no_tokens_give_no_ratio() -> None:
    calibration = calibrate(_samples(0, 0), ScriptedCount([12, 15]), max_calls=5)
    assert (calibration.sampled, calibration.estimated, calibration.counted) == (2, 0, 27)
    assert calibration.ratio is None
    assert calibration.note == "the sampled records were estimated at no tokens: nothing to compare"


def test_no_records_make_no_call_and_no_ratio() -> None:
    count = ScriptedCount([])
    assert calibrate([], count, max_calls=5) == Calibration(
        "CountTokens", 0, 0, 0, None, NO_RECORDS
    )
    assert calibrate(_samples(10), count, max_calls=0).note == NO_RECORDS
    assert count.calls == []


def test_a_long_note_is_cut_short() -> None:
    count = ScriptedCount([CountTokensDenied("x" * 1_000)])
    note = calibrate(_samples(1), count, max_calls=5).note
    assert note is not None and len(note) == 300


# -- an upload's calibration -----------------------------------------------------------------


def test_a_calibration_that_made_no_call_says_why() -> None:
    assert Calibration.disabled() == Calibration("CountTokens", 0, 0, 0, None, DISABLED)
    unsupported = Calibration.unsupported(f"us.{CLAUDE}")
    assert (unsupported.sampled, unsupported.ratio) == (0, None)
    assert unsupported.note is not None
    assert unsupported.note.startswith(f"us.{CLAUDE} cannot count tokens: ")
    assert Calibration.skipped("y" * 500).note == "y" * 300
