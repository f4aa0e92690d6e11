"""A stand-in for Amazon Lookout for Vision model packaging (the `lookoutvision` client).

Lookout for Vision reached its end of support on 2025-10-31 and moto never had it.
`FakeLookoutVision` answers `start_model_packaging_job`, `describe_model_packaging_job` and
`list_model_packaging_jobs` in the real request and response shapes (both checked against
the service model, constraints included), raises the model's own exception classes
(`fake.exceptions.ThrottlingException` is what `client.exceptions.ThrottlingException` is)
with the model's HTTP statuses, and moves jobs through the service's statuses, one step per
`advance()` once a status has lasted its configured time:

    CREATED → RUNNING → SUCCEEDED | FAILED

On SUCCEEDED the job has written the component's artifact,
`<Prefix><ComponentName>/<ComponentVersion>/<ComponentName>.zip` (deterministic bytes), and
its recipe, `recipe.json` beside it, to the requested S3OutputLocation, and created the
Greengrass component version (in a `FakeGreengrass` when one is given, so that it can be
deployed). The service emits no events: callers poll.

Service behaviour reproduced here, and where it is a reading rather than a fact:
- The client checks types, required members and minimums (ParamValidationError); the
  service enforces maximums, patterns and enums with ValidationException, as here. Like
  botocore, a missing `ClientToken` is filled with a uuid4 before the call.
- A token is remembered for 8 hours: the same token and parameters answer the first job's
  name again; other parameters are refused. Unconfirmed, configurable: with
  ConflictException (`idempotency_mismatch_code`).
- TargetDevice and TargetPlatform exclude each other and one is needed; CompilerOptions go
  with TargetPlatform only, as a JSON object, and an NVIDIA accelerator needs `gpu-code`,
  `trt-ver` and `cuda-ver` in them. Refused with ValidationException (the API reference
  states the rules, not the error; the JSON check is a reading).
- An unknown project or model version is ResourceNotFoundException; a job name already used
  in the project is ConflictException.
- Unconfirmed: a component name and version that already exist make the job FAILED when it
  tries to create the component, not the start call.
- Unconfirmed: a generated job name is `packaging-` and 16 hex digits; ModelVersion
  `latest` is answered as the newest version's number; jobs are listed oldest first.
- About 5 requests a second per operation are answered; more are refused with
  ThrottlingException (429). The limit is a token bucket (`tps`, bursts of `burst`) on the
  fake's clock, and `calls` records every request that reached the service.
- The model's pattern for `ComponentVersionArn` admits only `aws`-owned components
  (`arn:...:greengrass:<region>:aws:components:...`); the ARN of a component in an account
  (`arn:aws:greengrass:<region>:<account>:components:<name>:versions:<version>`) is what
  the service answers, so responses are not held to that one pattern.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
import json
import random
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.clock import utcnow
from dropzone_local.service_fake import (
    ApiCall,
    IdempotencyTokens,
    InjectedFaults,
    ServiceFake,
    TokenBucket,
    peak_rate,
)
from dropzone_local.service_model import (
    client_exceptions,
    operation,
    validate_request,
    validate_response,
    with_metadata,
)

if TYPE_CHECKING:
    from dropzone_local.greengrass import FakeGreengrass

SERVICE = "lookoutvision"
START = "StartModelPackagingJob"
DESCRIBE = "DescribeModelPackagingJob"
LIST = "ListModelPackagingJobs"
OPERATIONS = (START, DESCRIBE, LIST)

PACKAGING_METHOD = "Greengrass"
COMPONENT_PUBLISHER = "Amazon Lookout for Vision"
IDEMPOTENCY_WINDOW = timedelta(hours=8)
NVIDIA_COMPILER_OPTIONS = ("gpu-code", "trt-ver", "cuda-ver")
_LENIENT_RESPONSE_SHAPES = frozenset({"ComponentVersionArn"})
_ARCHITECTURES = {"ARM64": "aarch64", "X86_64": "amd64"}
_TARGET_DEVICE_ARCHITECTURES = {"jetson_xavier": "aarch64"}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackagingJobStatus(StrEnum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


P = PackagingJobStatus
IN_FLIGHT = frozenset({P.CREATED, P.RUNNING})


@dataclass(frozen=True)
class StatusChange:
    """What one `advance()` did to one job."""

    project_name: str
    job_name: str
    status: PackagingJobStatus


@dataclass
class _Job:
    project: str
    name: str
    request: dict[str, Any]
    model_version: str
    component_version: str
    status: PackagingJobStatus
    created: datetime
    updated: datetime
    fail_reason: str | None = None
    message: str | None = None
    output: dict[str, str] | None = None
    extra_advances: int = 0

    @property
    def greengrass(self) -> dict[str, Any]:
        config: dict[str, Any] = self.request["Configuration"]["Greengrass"]
        return config

    @property
    def component_name(self) -> str:
        return str(self.greengrass["ComponentName"])


@dataclass(kw_only=True)
class FakeLookoutVision(ServiceFake):
    service_name = SERVICE
    message_member = "Message"

    account: str = "123456789012"
    region: str = "us-east-1"
    s3_client: Any = None  # writes the artifacts; default aws.client("s3")
    greengrass: FakeGreengrass | None = None  # where packaged components are created
    clock: Callable[[], datetime] = utcnow
    seed: int = 0
    tps: float = 5.0  # per operation
    burst: int = 5
    queue_time: timedelta = timedelta(0)  # least time a job stays CREATED
    run_time: timedelta = timedelta(0)  # least time a job stays RUNNING
    # Extra advances a job stays RUNNING, by job name; "*" applies to every job.
    slow_jobs: dict[str, int] = field(default_factory=dict)
    idempotency_mismatch_code: str = "ConflictException"

    calls: list[ApiCall] = field(default_factory=list, init=False)
    # The client's modeled exception classes; Any because the stubs type them as None.
    exceptions: Any = field(init=False, repr=False)
    _projects: dict[str, set[int]] = field(default_factory=dict, init=False, repr=False)
    _jobs: dict[tuple[str, str], _Job] = field(default_factory=dict, init=False, repr=False)
    _tokens: IdempotencyTokens = field(init=False, repr=False)
    _buckets: dict[str, TokenBucket] = field(default_factory=dict, init=False, repr=False)
    _faults: InjectedFaults = field(init=False, repr=False)
    _fail_next: list[str] = field(default_factory=list, init=False, repr=False)
    _failing_projects: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _failing_jobs: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _components: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.exceptions = client_exceptions(SERVICE)
        self._tokens = IdempotencyTokens(IDEMPOTENCY_WINDOW)
        self._faults = InjectedFaults(SERVICE)
        self._rng = random.Random(self.seed)  # noqa: S311 - deterministic names, not secrets

    # -- test controls -------------------------------------------------------------------

    def add_project(self, name: str, model_versions: list[int] | tuple[int, ...] = (1,)) -> None:
        """A project with trained model versions that can be packaged."""
        if any(version < 1 for version in model_versions):
            raise ValueError("model versions start at 1")
        with self._lock:
            self._projects.setdefault(name, set()).update(model_versions)

    def fail_next(self, reason: str = "The model packaging job failed.") -> None:
        """The next job started fails, with this StatusMessage, when it runs."""
        with self._lock:
            self._fail_next.append(reason)

    def fail_project(self, project_name: str, reason: str | None) -> None:
        """Every job of the project started from now fails with `reason` (None: stop)."""
        with self._lock:
            if reason is None:
                self._failing_projects.pop(project_name, None)
            else:
                self._failing_projects[project_name] = reason

    def fail_job(self, job_name: str, reason: str) -> None:
        """The job of this name (started before or after) fails when it runs."""
        with self._lock:
            self._failing_jobs[job_name] = reason
            for job in self._jobs.values():
                if job.name == job_name and job.status in IN_FLIGHT:
                    job.fail_reason = reason

    def inject_faults(self, *error_codes: str, operation: str | None = None) -> None:
        """The next calls (of `operation`, or of any operation) fail with these error codes,
        one call each, in order."""
        with self._lock:
            self._faults.add(error_codes, operation, OPERATIONS)

    def add_component(self, name: str, version: str) -> None:
        """A Greengrass component version that exists already (without a FakeGreengrass)."""
        with self._lock:
            self._components.add((name, version))

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(job.status in IN_FLIGHT for job in self._jobs.values())

    def status_of(self, project_name: str, job_name: str) -> PackagingJobStatus:
        """A job's status, without a (recorded, rate-limited) API call."""
        with self._lock:
            return self._jobs[(project_name, job_name)].status

    def peak_rate(
        self,
        operation_name: str | None = None,
        window: timedelta = timedelta(seconds=1),
        *,
        answered_only: bool = False,
    ) -> int:
        """The most recorded calls within any `window` (see `calls`)."""
        with self._lock:
            calls = list(self.calls)
        return peak_rate(calls, operation_name, window, answered_only=answered_only)

    # -- the API -------------------------------------------------------------------------

    def start_model_packaging_job(self, **params: Any) -> dict[str, Any]:
        for member in operation(SERVICE, START).idempotent_members:
            params.setdefault(member, str(uuid.uuid4()))  # as botocore does
        validate_request(SERVICE, START, params)
        with self._lock:
            now = self._admit(START, params)
            name = self._start(params, now)
            response = {"JobName": name}
            self._answer(START, response)
        return with_metadata(response)

    def describe_model_packaging_job(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, DESCRIBE, params)
        with self._lock:
            self._admit(DESCRIBE, params)
            project = self._project(DESCRIBE, params["ProjectName"])
            job = self._jobs.get((project, params["JobName"]))
            if job is None:
                raise self._fail(
                    DESCRIBE,
                    "ResourceNotFoundException",
                    f"The model packaging job {params['JobName']} does not exist in project "
                    f"{project}.",
                    ResourceId=params["JobName"],
                    ResourceType="MODEL_PACKAGE_JOB",
                )
            response = {"ModelPackagingDescription": self._describe(job)}
            self._answer(DESCRIBE, response)
        return with_metadata(response)

    def list_model_packaging_jobs(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, LIST, params)
        with self._lock:
            self._admit(LIST, params)
            project = self._project(LIST, params["ProjectName"])
            jobs = sorted(
                (job for job in self._jobs.values() if job.project == project),
                key=lambda job: job.created,
            )
            start = self._page_start(params.get("NextToken"), project, len(jobs))
            end = start + params.get("MaxResults", 100)
            response: dict[str, Any] = {
                "ModelPackagingJobs": [self._metadata(job) for job in jobs[start:end]]
            }
            if end < len(jobs):
                response["NextToken"] = _page_token(project, end)
            self._answer(LIST, response)
        return with_metadata(response)

    def get_paginator(self, operation_name: str) -> _Paginator:
        """Like a client's paginator, for `list_model_packaging_jobs` (the model's one)."""
        if operation_name != "list_model_packaging_jobs":
            raise ValueError(f"FakeLookoutVision has no paginator for {operation_name}")
        return _Paginator(self.list_model_packaging_jobs)

    # -- time passing --------------------------------------------------------------------

    def advance(self, now: datetime | None = None) -> list[StatusChange]:
        """Move every in-flight job at most one step; return the changes.

        Artifacts are written (through `s3_client`) while the fake's lock is held."""
        with self._lock:
            moment = now or self.clock()
            changes = []
            for job in self._jobs.values():
                if job.status in IN_FLIGHT and self._step(job, moment):
                    changes.append(StatusChange(job.project, job.name, job.status))
        return changes

    # -- inside the service (called with the lock held) ----------------------------------

    def _admit(self, operation_name: str, params: dict[str, Any]) -> datetime:
        """Record the call, then answer an injected fault, the rate limit or the model's
        constraints, as the service would before looking at the request's meaning."""
        now = self._record(operation_name, params)
        bucket = self._buckets.setdefault(
            operation_name, TokenBucket(rate=self.tps, capacity=self.burst)
        )
        wait = bucket.take(now)
        if wait is not None:
            raise self._fail(
                operation_name,
                "ThrottlingException",
                "Rate exceeded.",
                QuotaCode=f"{operation_name}-TPS",
                ServiceCode=SERVICE,
                RetryAfterSeconds=wait,
            )
        self._check(operation_name, params)
        return now

    def _error_members(self, code: str) -> dict[str, Any]:
        return _members(code)

    def _answer(self, operation_name: str, response: dict[str, Any]) -> None:
        validate_response(
            SERVICE,
            operation_name,
            response,
            constraints=True,
            lenient_shapes=_LENIENT_RESPONSE_SHAPES,
        )

    def _project(self, operation_name: str, name: str) -> str:
        if name not in self._projects:
            raise self._fail(
                operation_name,
                "ResourceNotFoundException",
                f"The project {name} does not exist.",
                ResourceId=name,
                ResourceType="PROJECT",
            )
        return name

    def _start(self, params: dict[str, Any], now: datetime) -> str:
        project = self._project(START, params["ProjectName"])
        token = params["ClientToken"]
        request = {key: value for key, value in params.items() if key != "ClientToken"}
        earlier, differs = self._tokens.recall(token, request, now)
        if earlier is not None and not differs:
            return earlier
        if earlier is not None:
            raise self._fail(
                START,
                self.idempotency_mismatch_code,
                f"ClientToken {token} was used with different parameters.",
                **_members(self.idempotency_mismatch_code, earlier),
            )
        self._check_configuration(params["Configuration"]["Greengrass"])
        version = self._model_version(project, params["ModelVersion"])
        name = params.get("JobName") or self._new_job_name(project)
        if (project, name) in self._jobs:
            raise self._fail(
                START,
                "ConflictException",
                f"A model packaging job named {name} already exists in project {project}.",
                ResourceId=name,
                ResourceType="MODEL_PACKAGE_JOB",
            )
        greengrass = params["Configuration"]["Greengrass"]
        job = _Job(
            project=project,
            name=name,
            request=copy.deepcopy(params),
            model_version=version,
            component_version=greengrass.get("ComponentVersion", f"{version}.0.0"),
            status=P.CREATED,
            created=now,
            updated=now,
        )
        job.fail_reason = (
            self._failing_jobs.get(name)
            or (self._fail_next.pop(0) if self._fail_next else None)
            or self._failing_projects.get(project)
        )
        self._jobs[(project, name)] = job
        self._tokens.remember(token, request, name, now)
        return name

    def _check_configuration(self, greengrass: dict[str, Any]) -> None:
        device, platform = greengrass.get("TargetDevice"), greengrass.get("TargetPlatform")
        options = greengrass.get("CompilerOptions")
        problem = None
        if device is None and platform is None:
            problem = "Specify either TargetDevice or TargetPlatform."
        elif device is not None and platform is not None:
            problem = "TargetDevice and TargetPlatform cannot both be specified."
        elif device is not None and options is not None:
            problem = "CompilerOptions cannot be specified with TargetDevice."
        elif options is not None and not isinstance(_json_object(options), dict):
            problem = "CompilerOptions must be a JSON object."
        elif platform is not None and platform.get("Accelerator") == "NVIDIA":
            missing = [k for k in NVIDIA_COMPILER_OPTIONS if k not in (_json_object(options) or {})]
            if missing:
                problem = (
                    "CompilerOptions must specify "
                    + ", ".join(missing)
                    + " for the NVIDIA accelerator."
                )
        if problem:
            raise self._fail(START, "ValidationException", f"Configuration.Greengrass: {problem}")

    def _model_version(self, project: str, requested: str) -> str:
        versions = self._projects[project]
        version = max(versions, default=None) if requested == "latest" else int(requested)
        if version is None or version not in versions:
            raise self._fail(
                START,
                "ResourceNotFoundException",
                f"Model version {requested} does not exist in project {project}.",
                ResourceId=f"{project}/{requested}",
                ResourceType="MODEL",
            )
        return str(version)

    def _new_job_name(self, project: str) -> str:
        while True:
            name = f"packaging-{self._rng.getrandbits(64):016x}"
            if (project, name) not in self._jobs:
                return name

    def _step(self, job: _Job, now: datetime) -> bool:
        held = now - job.updated
        if job.status is P.CREATED:
            if held < self.queue_time:
                return False
            job.extra_advances = self.slow_jobs.get(job.name, self.slow_jobs.get("*", 0))
            return self._transition(job, P.RUNNING, now)
        if held < self.run_time:
            return False
        if job.extra_advances > 0:
            job.extra_advances -= 1
            return False
        if job.fail_reason is not None:
            return self._transition(job, P.FAILED, now, job.fail_reason)
        return self._package(job, now)

    def _package(self, job: _Job, now: datetime) -> bool:
        name, version = job.component_name, job.component_version
        if self._component_exists(name, version):
            return self._transition(
                job,
                P.FAILED,
                now,
                f"The component {name} version {version} already exists.",
            )
        location = job.greengrass["S3OutputLocation"]
        bucket, key = location["Bucket"], f"{location.get('Prefix', '')}{name}/{version}/"
        artifact_uri = f"s3://{bucket}/{key}{name}.zip"
        recipe = _recipe(job, artifact_uri)
        try:
            s3 = self.s3_client or aws.client("s3")
            s3.put_object(Bucket=bucket, Key=f"{key}{name}.zip", Body=component_artifact(job))
            s3.put_object(
                Bucket=bucket,
                Key=f"{key}recipe.json",
                Body=json.dumps(recipe, indent=2).encode(),
                ContentType="application/json",
            )
        except ClientError as error:
            return self._transition(
                job,
                P.FAILED,
                now,
                f"Unable to write the component to s3://{bucket}/{key}: {aws.error_code(error)}.",
            )
        if self.greengrass is not None:
            arn = self.greengrass.add_component_version(name, version, recipe=recipe)
        else:
            self._components.add((name, version))
            arn = (
                f"arn:aws:greengrass:{self.region}:{self.account}:components:{name}"
                f":versions:{version}"
            )
        job.output = {
            "ComponentVersionArn": arn,
            "ComponentName": name,
            "ComponentVersion": version,
        }
        return self._transition(job, P.SUCCEEDED, now)

    def _component_exists(self, name: str, version: str) -> bool:
        if self.greengrass is not None:
            return self.greengrass.has_component_version(name, version)
        return (name, version) in self._components

    def _transition(
        self, job: _Job, status: PackagingJobStatus, now: datetime, message: str | None = None
    ) -> bool:
        job.status, job.updated = status, now
        if message is not None:
            job.message = message
        return True

    def _metadata(self, job: _Job) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "JobName": job.name,
            "ProjectName": job.project,
            "ModelVersion": job.model_version,
            "ModelPackagingMethod": PACKAGING_METHOD,
            "Status": job.status.value,
            "CreationTimestamp": job.created,
            "LastUpdatedTimestamp": job.updated,
        }
        if "Description" in job.request:
            answer["ModelPackagingJobDescription"] = job.request["Description"]
        if job.message is not None:
            answer["StatusMessage"] = job.message
        return answer

    def _describe(self, job: _Job) -> dict[str, Any]:
        answer = self._metadata(job)
        answer["ModelPackagingConfiguration"] = copy.deepcopy(job.request["Configuration"])
        if job.output is not None:
            answer["ModelPackagingOutputDetails"] = {"Greengrass": dict(job.output)}
        return answer

    def _page_start(self, token: str | None, project: str, total: int) -> int:
        if token is None:
            return 0
        try:
            owner, _, offset = base64.b64decode(token, validate=True).decode().rpartition(":")
            start = int(offset)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            start, owner = -1, ""
        if owner != project or not 0 <= start <= total:
            raise self._fail(LIST, "ValidationException", f"Invalid NextToken {token}.")
        return start


@dataclass
class _Paginator:
    list_page: Callable[..., dict[str, Any]]

    def paginate(self, **params: Any) -> Any:
        config = params.pop("PaginationConfig", {})
        if "PageSize" in config:
            params["MaxResults"] = config["PageSize"]
        while True:
            page = self.list_page(**params)
            yield page
            if "NextToken" not in page:
                return
            params["NextToken"] = page["NextToken"]


def component_artifact(job: _Job) -> bytes:
    """The component's zip: deterministic for the project, model version and configuration."""
    greengrass = job.greengrass
    seed = json.dumps(
        [job.project, job.model_version, job.component_version, greengrass], sort_keys=True
    ).encode()
    weights = b"".join(
        hashlib.sha256(seed + index.to_bytes(4, "big")).digest() for index in range(128)
    )
    manifest = {
        "ProjectName": job.project,
        "ModelVersion": job.model_version,
        "ComponentName": job.component_name,
        "ComponentVersion": job.component_version,
        "TargetDevice": greengrass.get("TargetDevice"),
        "TargetPlatform": greengrass.get("TargetPlatform"),
        "CompilerOptions": greengrass.get("CompilerOptions"),
        "WeightsSha256": hashlib.sha256(weights).hexdigest(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (
            ("manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode()),
            ("model/compiled.bin", weights),
        ):
            entry = zipfile.ZipInfo(f"{job.component_name}/{name}", date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return buffer.getvalue()


def _recipe(job: _Job, artifact_uri: str) -> dict[str, Any]:
    greengrass = job.greengrass
    device = greengrass.get("TargetDevice")
    architecture = (
        _TARGET_DEVICE_ARCHITECTURES[device]
        if device
        else _ARCHITECTURES[greengrass["TargetPlatform"]["Arch"]]
    )
    description = greengrass.get(
        "ComponentDescription",
        f"Lookout for Vision model {job.project} version {job.model_version}",
    )
    return {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": job.component_name,
        "ComponentVersion": job.component_version,
        "ComponentDescription": description,
        "ComponentPublisher": COMPONENT_PUBLISHER,
        "Manifests": [
            {
                "Platform": {"os": "linux", "architecture": architecture},
                "Artifacts": [{"Uri": artifact_uri, "Unarchive": "ZIP"}],
            }
        ],
    }


def _json_object(options: str | None) -> Any:
    if options is None:
        return None
    try:
        return json.loads(options)
    except json.JSONDecodeError:
        return None


def _members(code: str, resource_id: str = "injected") -> dict[str, Any]:
    """The members the model requires on this error (the message aside)."""
    if code in ("ConflictException", "ResourceNotFoundException"):
        return {"ResourceId": resource_id, "ResourceType": "MODEL_PACKAGE_JOB"}
    if code in ("ThrottlingException", "ServiceQuotaExceededException"):
        return {"QuotaCode": "injected", "ServiceCode": SERVICE}
    return {}


def _page_token(project: str, offset: int) -> str:
    return base64.b64encode(f"{project}:{offset}".encode()).decode()
