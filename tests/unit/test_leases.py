"""A lease outlasts whatever its holder can still do, and a queue does not deliver a message
again while the lease its last delivery took can still be running.

The rules (dropzone.leases):

- a lease lasts at least `holder_bound_seconds` of the calls it guards: their worst case
  under the retry policy the code uses (`dropzone.aws.RETRY_CONFIG`), or the holder
  function's Timeout plus one read timeout, whichever is shorter;
- the queue feeding a holder hides a received message for at least the batching window,
  the function's Timeout and the lease one after another, so the next delivery of a message
  whose holder died finds the lease run out.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import math
import pkgutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.retries import bucket, standard

from dropzone import leases, settings
from dropzone.aws import RETRY_CONFIG
from dropzone.leases import LeaseGuard
from dropzone.settings import bedrock, edge, packaging, sagemaker
from dropzone.workflows.edge import rollout
from dropzone_local.template import load_template

WORKFLOWS = Path(leases.__file__).parent / "workflows"
# Every module of the settings package: each workflow's, and the shared base.
SETTINGS_MODULES = [
    settings,
    *(
        importlib.import_module(f"dropzone.settings.{module.name}")
        for module in pkgutil.iter_modules(settings.__path__)
    ),
]


def _default(model: type[Any], name: str = "lease_seconds") -> int:
    if dataclasses.is_dataclass(model):
        return int(next(f.default for f in dataclasses.fields(model) if f.name == name))
    return int(model.model_fields[name].default)


# Each lease: where its length comes from, its default, and what it guards.
LEASES: dict[str, tuple[int, tuple[LeaseGuard, ...]]] = {
    "SageMakerSubmitSettings.lease_seconds": (
        _default(sagemaker.SageMakerSubmitSettings),
        sagemaker.SAGEMAKER_SUBMIT_LEASE,
    ),
    "BedrockSettings.lease_seconds": (_default(bedrock.BedrockSettings), bedrock.BEDROCK_LEASE),
    "EdgeSettings.lease_seconds": (_default(edge.EdgeSettings), edge.EDGE_LEASE),
    "PackagingSettings.lease_seconds": (
        _default(packaging.PackagingSettings),
        packaging.PACKAGING_LEASE,
    ),
    "GreengrassDeployer.lease_seconds": (
        _default(rollout.GreengrassDeployer),
        rollout.ROLLOUT_LEASE,
    ),
}

# The functions that run each holder (template logical ids).
HOLDER_FUNCTIONS = {
    "dropzone.workflows.sagemaker.submit.SageMakerSubmitter.submit": ["SageMakerSubmitFunction"],
    "dropzone.workflows.bedrock.submit.BedrockSubmitter.submit": ["BedrockSubmitFunction"],
    "dropzone.workflows.bedrock.admission.BedrockAdmission._admit_one": [
        "BedrockAdmissionFunction"
    ],
    "dropzone.workflows.bedrock.finish.BedrockFinisher.finish": ["BedrockFinishFunction"],
    "dropzone.workflows.edge.deployment_submit.EdgeDeployments.submit": [
        "EdgeDeploymentSubmitFunction"
    ],
    "dropzone.workflows.edge.deployment_submit.EdgeDeployments.record_from_packaging": [
        "PackagingPollFunction"
    ],
    "dropzone.workflows.packaging.submit.PackagingSubmitter.submit": ["PackagingSubmitFunction"],
    "dropzone.workflows.edge.rollout.GreengrassDeployer.deploy": ["PackagingPollFunction"],
    "dropzone.workflows.edge.rollout.GreengrassDeployer._refuse": ["PackagingPollFunction"],
}

HOLDINGS = [
    (lease, guard, function)
    for lease, (_, guards) in LEASES.items()
    for guard in guards
    for function in HOLDER_FUNCTIONS[guard.holder]
]
HOLDING_IDS = [
    f"{lease.split('.')[0]}-{function}-{guard.holder.rsplit('.', 1)[1]}"
    for lease, guard, function in HOLDINGS
]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return dict(load_template()["Resources"])


def _properties(resources: dict[str, Any], function: str) -> dict[str, Any]:
    return dict(resources[function]["Properties"])


def _lease_in(resources: dict[str, Any], lease: str, function: str) -> int:
    """The lease a function runs with: its LEASE_SECONDS when the template sets one (only
    the settings read it), else the default."""
    variables = _properties(resources, function).get("Environment", {}).get("Variables", {})
    if "LEASE_SECONDS" in variables and "Settings." in lease:
        return int(variables["LEASE_SECONDS"])
    return LEASES[lease][0]


def _queues(resources: dict[str, Any], function: str) -> list[tuple[str, dict[str, Any]]]:
    """(queue id, event source properties) of the function's SQS event sources."""
    found = []
    for event in _properties(resources, function).get("Events", {}).values():
        if event.get("Type") == "SQS":
            queue_id = event["Properties"]["Queue"]["Fn::GetAtt"][0]
            found.append((queue_id, event["Properties"]))
    return found


# -- one call's worst case, as botocore retries it


def test_the_retry_policy_makes_six_attempts_of_35_seconds() -> None:
    """max_attempts counts retries: botocore makes one attempt more."""
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("dynamodb", config=RETRY_CONFIG)
    resolved = client.meta.config
    assert resolved.retries["mode"] == "adaptive"
    assert resolved.retries["total_max_attempts"] == leases.total_attempts(RETRY_CONFIG) == 6
    assert (resolved.connect_timeout, resolved.read_timeout) == (5, 30)


def test_the_figures_are_botocores() -> None:
    backoff = standard.ExponentialBackoff
    assert backoff._BASE == leases.BACKOFF_BASE
    assert backoff._MAX_BACKOFF == leases.BACKOFF_CAP_SECONDS
    assert backoff._RETRY_AFTER_MAX_ADDITIONAL == leases.RETRY_AFTER_EXTRA_SECONDS
    scales = [*backoff._DEFAULT_BACKOFF_CONFIG.values()] + [
        scale for config in backoff._SERVICE_BACKOFF_CONFIG.values() for scale in config.values()
    ]
    assert max(scales) == leases.BACKOFF_SCALE_SECONDS
    assert bucket.TokenBucket._MIN_RATE == leases.ADAPTIVE_MIN_FILL_RATE


def test_the_backoff_is_the_largest_botocore_can_sleep() -> None:
    """botocore's own delays, with the jitter at its top, throttled every time, and a
    retry-after header far beyond what botocore honours."""
    delays = standard.ExponentialBackoff(
        random=lambda: 1.0,
        throttling_detector=standard.ThrottlingErrorDetector(standard.RetryEventAdapter()),
    )
    attempts = leases.total_attempts(RETRY_CONFIG)
    slept = sum(
        delays.delay_amount(
            standard.RetryContext(
                attempt_number=attempt,
                parsed_response={"Error": {"Code": "ThrottlingException"}},
                http_response=SimpleNamespace(
                    status_code=400, headers={"x-amz-retry-after": "3600000"}
                ),
            )
        )
        for attempt in range(1, attempts)
    )
    assert slept == (1 + 2 + 4 + 8 + 16) + 5 * 5
    waits = attempts * (RETRY_CONFIG.connect_timeout + RETRY_CONFIG.read_timeout)
    limiter = attempts / bucket.TokenBucket._MIN_RATE
    assert leases.worst_case_call_seconds(RETRY_CONFIG) == waits + slept + limiter == 278


def test_the_backoff_is_capped_at_20_seconds() -> None:
    config = SimpleNamespace(
        retries={"mode": "standard", "total_max_attempts": 8}, connect_timeout=1, read_timeout=1
    )
    # sleeps 1, 2, 4, 8, 16, 20, 20 (+ 5 each); no rate limiter in standard mode
    assert leases.worst_case_call_seconds(config) == 8 * 2 + (1 + 2 + 4 + 8 + 16 + 20 + 20) + 35


@pytest.mark.parametrize(
    "retries",
    [{"max_attempts": 5}, {"mode": "legacy", "max_attempts": 5}, {"mode": "standard"}],
)
def test_only_a_pinned_standard_or_adaptive_policy_has_a_worst_case(
    retries: dict[str, Any],
) -> None:
    config = SimpleNamespace(retries=retries, connect_timeout=5, read_timeout=30)
    with pytest.raises(ValueError, match="retry"):
        leases.worst_case_call_seconds(config)


def test_a_call_bound_by_its_input_has_no_worst_case() -> None:
    calls = (leases.GuardedCall("s3:HeadObject"), leases.GuardedCall("s3:GetObject", 1, True))
    assert leases.guarded_seconds(calls, RETRY_CONFIG) == math.inf
    assert leases.holder_bound_seconds(calls, RETRY_CONFIG, 60) == 60 + 30


# -- what each lease guards


def _lease_takers() -> set[str]:
    """module.Class.method of every method in the workflows that takes a lease."""
    takers: set[str] = set()
    for path in WORKFLOWS.rglob("*.py"):
        module = ".".join(path.relative_to(WORKFLOWS.parent.parent).with_suffix("").parts)
        if module == "dropzone.workflows.intake":
            continue  # claim() itself
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef):
                continue
            for method in cls.body:
                if not isinstance(method, ast.FunctionDef):
                    continue
                for node in ast.walk(method):
                    if isinstance(node, ast.Call) and (
                        (isinstance(node.func, ast.Name) and node.func.id == "claim")
                        or (
                            isinstance(node.func, ast.Attribute)
                            and node.func.attr == "acquire_lease"
                        )
                    ):
                        takers.add(f"{module}.{cls.name}.{method.name}")
    return takers


def test_every_place_that_takes_a_lease_declares_what_it_guards() -> None:
    declared = {guard.holder for _, guards in LEASES.values() for guard in guards}
    assert declared == _lease_takers() == set(HOLDER_FUNCTIONS)


def test_every_lease_setting_is_checked() -> None:
    with_lease = {
        f"{model.__name__}.lease_seconds"
        for module in SETTINGS_MODULES
        for model in vars(module).values()
        if isinstance(model, type)
        and issubclass(model, settings.EnvModel)
        and "lease_seconds" in model.model_fields
    }
    assert with_lease == {lease for lease in LEASES if "Settings." in lease}


# -- leases against the template


@pytest.mark.parametrize(("lease", "guard", "function"), HOLDINGS, ids=HOLDING_IDS)
def test_a_lease_outlasts_what_its_holder_can_still_do(
    resources: dict[str, Any], lease: str, guard: LeaseGuard, function: str
) -> None:
    timeout = int(_properties(resources, function)["Timeout"])
    calls = leases.guarded_seconds(guard.calls, RETRY_CONFIG)
    needed = math.ceil(leases.holder_bound_seconds(guard.calls, RETRY_CONFIG, timeout))
    length = _lease_in(resources, lease, function)
    assert length >= needed, (
        f"{lease} is {length} s, but {guard.holder} in {function} can still act for "
        f"{needed} s (its calls: {calls} s; Timeout {timeout} s + read timeout "
        f"{RETRY_CONFIG.read_timeout} s)"
    )


@pytest.mark.parametrize(("lease", "guard", "function"), HOLDINGS, ids=HOLDING_IDS)
def test_a_message_comes_back_only_once_its_lease_has_run_out(
    resources: dict[str, Any], lease: str, guard: LeaseGuard, function: str
) -> None:
    timeout = int(_properties(resources, function)["Timeout"])
    length = _lease_in(resources, lease, function)
    for queue_id, source in _queues(resources, function):
        visibility = int(resources[queue_id]["Properties"]["VisibilityTimeout"])
        window = int(source.get("MaximumBatchingWindowInSeconds", 0))
        assert visibility >= timeout, f"Lambda refuses {queue_id} below {function}'s Timeout"
        assert visibility >= window + timeout + length, (
            f"{queue_id} shows a message again after {visibility} s, but the lease its "
            f"delivery took ({lease}, {length} s) can run until {window + timeout + length} s "
            f"after it was received ({window} s batching window + {timeout} s Timeout)"
        )


def test_the_submit_functions_are_fed_by_queues(resources: dict[str, Any]) -> None:
    """The visibility rule above checks something: each upload's submit reads a queue."""
    fed = {function for _, _, function in HOLDINGS if _queues(resources, function)}
    assert fed == {
        "SageMakerSubmitFunction",
        "BedrockSubmitFunction",
        "EdgeDeploymentSubmitFunction",
        "PackagingSubmitFunction",
    }
