"""A stand-in for Amazon Bedrock batch inference (the `bedrock` client's model invocation jobs).

moto implements none of these operations. `FakeBedrock` answers `create_model_invocation_job`,
`get_model_invocation_job`, `stop_model_invocation_job` and `list_model_invocation_jobs` in
the real request and response shapes (both checked against botocore's model), raises the
model's own exception classes (`fake.exceptions.ConflictException` is what
`client.exceptions.ConflictException` is) with the model's HTTP statuses, and moves jobs
through the service's statuses one step per `advance()`:

    Submitted → Validating → Scheduled → InProgress → Completed | PartiallyCompleted | Failed
    Validating → Failed                       (input unreadable, not JSONL, too few records)
    Submitted | Validating | Scheduled | InProgress → Stopping → Stopped    (stop; a job
                                        stopped InProgress writes half its records' answers)
    Submitted | Validating | Scheduled → Expired        (timeoutDurationInHours passed)
    InProgress → PartiallyCompleted                     (timeout passed mid-run: half done)

A record that names media (`s3Location`, as Amazon Nova's multimodal records do) gets a 400
error unless the object is under the job's input location and exists: AWS expects the input
URI to be the folder that holds the JSONL and its media.

Every status change, creation included, is emitted as the documented EventBridge event.

Service behaviour reproduced here, and where it is a reading rather than a fact:
- The client checks only types, required members and minimums (`validate_request`); the
  service enforces maximums, patterns and enums with ValidationException, as here. Two
  patterns matter: `jobIdentifier` is a job ARN or the 12-character job id, never a job
  name; and `s3Uri` admits no `:` (nor spaces, `+`, `=` ...) in the key.
- Like botocore, a missing `clientRequestToken` is filled with a uuid4 before the call.
- Unconfirmed, configurable: a reused token with other parameters raises
  ValidationException (`idempotency_mismatch_code`); a reused job name raises
  ConflictException (`name_conflict_code`; Bedrock's import jobs use ValidationException).
- A record fails as `record_faults` says (a `RecordFaults`, shared with the on-demand
  `FakeBedrockRuntime` in the local cloud: by marker or predicate, for a number of runs
  counted per record content across jobs), else as malformed input when `record_fails`
  picks it (by default when its modelInput has `"fail": true`). Its output line carries
  the documented `error`: `{"errorCode": <number>, "errorMessage": <string>}`. AWS shows
  only 400; the other codes (429, 408, 500, 503) are the runtime's HTTP statuses.
- Unconfirmed, configurable: records that error make the job PartiallyCompleted
  (`status_with_record_errors`). AWS documents PartiallyCompleted as "not all records could
  be processed in time"; a job with failed records may end Completed with
  errorRecordCount > 0. Every record failing makes it Failed.
- Records without a `recordId` get an 11-character upper-case alphanumeric id in the
  output, as the service adds one (derived here from the job, file and line).
- Output lines are shuffled (seeded): the service does not keep input order.
- A successful record's modelOutput is what FakeBedrockRuntime answers on demand, in the
  provider's own shape (Anthropic Messages, Titan, Nova, Llama, else `{"outputText"}`) or
  Converse's; its token counts are fake: len(json) // 4 of the input and of the answer.
- The event's `creationTime` is "Aug 28, 2024, 10:47:53 PM" (UTC, not ISO 8601); its
  `failureMessage` is "" when there is none.
- The default delivery PutEvents with source `aws.bedrock`, which moto accepts and real
  EventBridge refuses (the `aws.` prefix is reserved): a local-only path.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import string
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from botocore.utils import parse_to_aware_datetime

from dropzone import aws
from dropzone.clock import utcnow
from dropzone.workflows.bedrock.staging import media_uris
from dropzone_local.bedrock_runtime import converse_answer, invoke_answer
from dropzone_local.event_delivery import Deliver, Event, PutEventsDelivery
from dropzone_local.record_faults import Fault, RecordFaults, fails_when_flagged
from dropzone_local.service_model import (
    check_constraints,
    client_error,
    client_exceptions,
    known_errors,
    operation,
    validate_request,
    validate_response,
    with_metadata,
)

SERVICE = "bedrock"
CREATE = "CreateModelInvocationJob"
GET = "GetModelInvocationJob"
STOP = "StopModelInvocationJob"
LIST = "ListModelInvocationJobs"

EVENT_SOURCE = "aws.bedrock"
EVENT_DETAIL_TYPE = "Batch Inference Job State Change"
DEFAULT_TIMEOUT_HOURS = 168  # unconfirmed: the API reference names no default


class BatchJobStatus(StrEnum):
    SUBMITTED = "Submitted"
    VALIDATING = "Validating"
    SCHEDULED = "Scheduled"
    IN_PROGRESS = "InProgress"
    STOPPING = "Stopping"
    COMPLETED = "Completed"
    PARTIALLY_COMPLETED = "PartiallyCompleted"
    FAILED = "Failed"
    STOPPED = "Stopped"
    EXPIRED = "Expired"


S = BatchJobStatus
IN_FLIGHT = frozenset({S.SUBMITTED, S.VALIDATING, S.SCHEDULED, S.IN_PROGRESS, S.STOPPING})
TERMINAL = frozenset(S) - IN_FLIGHT

# The state machine. Each advance moves an in-flight job one row along; a row's alternative
# outcomes (Failed on validation, the result of the run) are decided in `_step`.
_NEXT: dict[BatchJobStatus, BatchJobStatus] = {
    S.SUBMITTED: S.VALIDATING,
    S.VALIDATING: S.SCHEDULED,  # or Failed: the input does not pass validation
    S.SCHEDULED: S.IN_PROGRESS,
    S.IN_PROGRESS: S.COMPLETED,  # or PartiallyCompleted / Failed: from the records' outcomes
    S.STOPPING: S.STOPPED,
}
_STOPPABLE = frozenset({S.SUBMITTED, S.VALIDATING, S.SCHEDULED, S.IN_PROGRESS})
_EXPIRES = frozenset({S.SUBMITTED, S.VALIDATING, S.SCHEDULED})  # never started in time
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class _InputFile:
    name: str  # path below the input prefix; the output is `<name>.out`
    records: list[dict[str, Any]]


@dataclass
class _Job:
    job_id: str
    arn: str
    request: dict[str, Any]
    status: BatchJobStatus
    submit_time: datetime
    last_modified: datetime
    expires_at: datetime
    message: str | None = None
    end_time: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    files: list[_InputFile] = field(default_factory=list)
    extra_advances: int = 0
    stopped_running: bool = False  # stopped while InProgress: keeps what it answered

    @property
    def name(self) -> str:
        return str(self.request["jobName"])

    @property
    def model_id(self) -> str:
        return str(self.request["modelId"])


class _InvalidInput(Exception):
    """The job's input fails the service's validation; the message is the job's message."""


@dataclass(kw_only=True)
class FakeBedrock:
    account: str = "123456789012"
    region: str = "us-east-1"
    s3_client: Any = None  # reads inputs, writes outputs; default aws.client("s3")
    events_client: Any = None  # for the default delivery; default aws.client("events")
    deliver: Deliver | None = None  # default: PutEventsDelivery(events_client)
    clock: Callable[[], datetime] = utcnow
    seed: int = 0
    quota_per_model: int = 10
    min_records: int = 100
    max_records: int = 50_000
    # Which records fail, how and how often; shared with FakeBedrockRuntime by the local cloud.
    record_faults: RecordFaults = field(default_factory=RecordFaults)
    # Records that fail every run as malformed input, unless `record_faults` says otherwise.
    record_fails: Callable[[dict[str, Any]], bool] = fails_when_flagged
    # Extra advances a job stays InProgress, by job name; "*" applies to every job.
    slow_jobs: dict[str, int] = field(default_factory=dict)
    status_with_record_errors: BatchJobStatus = S.PARTIALLY_COMPLETED
    name_conflict_code: str = "ConflictException"
    idempotency_mismatch_code: str = "ValidationException"

    create_calls: list[dict[str, Any]] = field(default_factory=list, init=False)
    stop_calls: list[dict[str, Any]] = field(default_factory=list, init=False)
    emitted: list[Event] = field(default_factory=list, init=False)
    # The client's modeled exception classes; Any because the stubs type them as None.
    exceptions: Any = field(init=False, repr=False)
    _create_faults: deque[str] = field(default_factory=deque, init=False, repr=False)
    _get_faults: deque[str] = field(default_factory=deque, init=False, repr=False)
    _jobs: dict[str, _Job] = field(default_factory=dict, init=False, repr=False)
    _by_token: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _by_name: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.exceptions = client_exceptions(SERVICE)
        self._rng = random.Random(self.seed)  # noqa: S311 - deterministic ids, not secrets

    # -- test controls -------------------------------------------------------------------

    def inject_faults(self, *error_codes: str) -> None:
        """The next create calls fail with these error codes, one each, in order."""
        self._create_faults.extend(known_errors(SERVICE, CREATE, error_codes))

    def inject_get_faults(self, *error_codes: str) -> None:
        """The next get calls fail with these error codes, one each, in order."""
        self._get_faults.extend(known_errors(SERVICE, GET, error_codes))

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(job.status in IN_FLIGHT for job in self._jobs.values())

    # -- the API -------------------------------------------------------------------------

    def create_model_invocation_job(self, **params: Any) -> dict[str, Any]:
        for member in operation(SERVICE, CREATE).idempotent_members:
            params.setdefault(member, str(uuid.uuid4()))  # as botocore does
        validate_request(SERVICE, CREATE, params)
        with self._lock:
            self.create_calls.append(copy.deepcopy(params))
            if self._create_faults:
                fault = self._create_faults.popleft()
                raise self._error(CREATE, fault, f"injected {fault}")
            self._check_constraints(CREATE, params)
            job, event = self._create(params)
        response = {"jobArn": job.arn}
        validate_response(SERVICE, CREATE, response)
        if event:
            self._send([event])
        return with_metadata(response)

    def get_model_invocation_job(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, GET, params)
        with self._lock:
            if self._get_faults:
                fault = self._get_faults.popleft()
                raise self._error(GET, fault, f"injected {fault}")
            self._check_constraints(GET, params)
            response = self._describe(self._find(GET, params["jobIdentifier"]))
        validate_response(SERVICE, GET, response)
        return with_metadata(response)

    def stop_model_invocation_job(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, STOP, params)
        event = None
        with self._lock:
            self._check_constraints(STOP, params)
            job = self._find(STOP, params["jobIdentifier"])
            if job.status in TERMINAL:
                raise self._error(
                    STOP,
                    "ValidationException",
                    f"Job {job.arn} is {job.status.value} and can no longer be stopped.",
                )
            if job.status in _STOPPABLE:
                job.stopped_running = job.status is S.IN_PROGRESS
                event = self._transition(job, S.STOPPING, self.clock())
            self.stop_calls.append(copy.deepcopy(params))
        response: dict[str, Any] = {}
        validate_response(SERVICE, STOP, response)
        if event:
            self._send([event])
        return with_metadata(response)

    def list_model_invocation_jobs(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, LIST, params)
        with self._lock:
            self._check_constraints(LIST, params)
            jobs = [job for job in self._jobs.values() if _listed(job, params)]
            jobs.sort(
                key=lambda job: job.submit_time,
                reverse=params.get("sortOrder", "Descending") == "Descending",
            )
            start = self._page_start(params.get("nextToken"), len(jobs))
            end = start + params.get("maxResults", 1000)
            response: dict[str, Any] = {
                "invocationJobSummaries": [self._describe(job) for job in jobs[start:end]]
            }
            if end < len(jobs):
                response["nextToken"] = str(end)
        validate_response(SERVICE, LIST, response)
        return with_metadata(response)

    # -- time passing --------------------------------------------------------------------

    def advance(self, now: datetime | None = None) -> list[Event]:
        """Move every in-flight job one step; deliver and return the events it caused.

        Input is read and output written (through `s3_client`) while the fake's lock is
        held; delivery happens after it is released, so a deliver callback may call back in.
        """
        with self._lock:
            moment = now or self.clock()
            events = []
            for job in self._jobs.values():
                event = self._step(job, moment) if job.status in IN_FLIGHT else None
                if event:
                    events.append(event)
        self._send(events)
        return events

    def advance_until_idle(self, limit: int = 100) -> list[Event]:
        """Advance until no job is in flight (or `limit` advances); return all events."""
        events: list[Event] = []
        for _ in range(limit):
            if not self.in_flight:
                break
            events.extend(self.advance())
        return events

    # -- inside the service (called with the lock held) ----------------------------------

    def _create(self, params: dict[str, Any]) -> tuple[_Job, Event | None]:
        token = params["clientRequestToken"]
        if token in self._by_token:
            existing = self._jobs[self._by_token[token]]
            if existing.request != params:
                raise self._error(
                    CREATE,
                    self.idempotency_mismatch_code,
                    f"The clientRequestToken {token} was already used for a request with "
                    "different parameters.",
                )
            return existing, None
        if params["jobName"] in self._by_name:
            raise self._error(
                CREATE,
                self.name_conflict_code,
                f"A batch inference job named {params['jobName']} already exists.",
            )
        busy = sum(
            job.model_id == params["modelId"] and job.status in IN_FLIGHT
            for job in self._jobs.values()
        )
        if busy >= self.quota_per_model:
            raise self._error(
                CREATE,
                "ServiceQuotaExceededException",
                f"You have reached the quota of {self.quota_per_model} submitted and "
                f"in-progress batch inference jobs for model {params['modelId']}.",
            )
        now = self.clock()
        job_id = self._new_job_id()
        hours = params.get("timeoutDurationInHours", DEFAULT_TIMEOUT_HOURS)
        job = _Job(
            job_id=job_id,
            arn=f"arn:aws:bedrock:{self.region}:{self.account}:model-invocation-job/{job_id}",
            request=copy.deepcopy(params),
            status=S.SUBMITTED,
            submit_time=now,
            last_modified=now,
            expires_at=now + timedelta(hours=hours),
        )
        self._jobs[job_id] = job
        self._by_token[token] = job_id
        self._by_name[job.name] = job_id
        return job, self._event(job, now)

    def _step(self, job: _Job, now: datetime) -> Event | None:
        if job.status in _EXPIRES and now >= job.expires_at:
            return self._transition(
                job, S.EXPIRED, now, "The job did not start before its timeout elapsed."
            )
        if job.status is S.VALIDATING:
            try:
                job.files = self._read_input(job)
            except _InvalidInput as problem:
                return self._transition(job, S.FAILED, now, str(problem))
            job.counts = {"totalRecordCount": sum(len(f.records) for f in job.files)}
            job.counts.update(processedRecordCount=0, successRecordCount=0, errorRecordCount=0)
        if job.status is S.IN_PROGRESS:
            timed_out = now >= job.expires_at
            if job.extra_advances > 0 and not timed_out:
                job.extra_advances -= 1
                return None
            return self._finish(job, now, timed_out)
        if job.status is S.STOPPING and job.stopped_running:
            outcome = self._run(job, timed_out=True)  # half its records were answered
            job.counts.update(
                processedRecordCount=outcome["processedRecordCount"],
                successRecordCount=outcome["successRecordCount"],
                errorRecordCount=outcome["errorRecordCount"],
            )
        following = _NEXT[job.status]
        if following is S.IN_PROGRESS:
            job.extra_advances = self.slow_jobs.get(job.name, self.slow_jobs.get("*", 0))
        return self._transition(job, following, now)

    def _finish(self, job: _Job, now: datetime, timed_out: bool) -> Event:
        outcome = self._run(job, timed_out)
        job.counts.update(
            processedRecordCount=outcome["processedRecordCount"],
            successRecordCount=outcome["successRecordCount"],
            errorRecordCount=outcome["errorRecordCount"],
        )
        processed, failed = outcome["processedRecordCount"], outcome["errorRecordCount"]
        total = outcome["totalRecordCount"]
        if timed_out:
            return self._transition(
                job,
                S.PARTIALLY_COMPLETED,
                now,
                f"The job timed out after processing {processed} of {total} records.",
            )
        if processed and failed == processed:
            return self._transition(job, S.FAILED, now, f"All {total} records failed.")
        if failed and self.status_with_record_errors is not S.COMPLETED:
            return self._transition(
                job, self.status_with_record_errors, now, f"{failed} of {total} records failed."
            )
        return self._transition(job, S.COMPLETED, now)

    def _transition(
        self, job: _Job, status: BatchJobStatus, now: datetime, message: str | None = None
    ) -> Event:
        job.status = status
        job.last_modified = now
        if message is not None:
            job.message = message
        if status in TERMINAL:
            job.end_time = now
        return self._event(job, now)

    def _event(self, job: _Job, now: datetime) -> Event:
        event: Event = {
            "version": "0",
            "id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "detail-type": EVENT_DETAIL_TYPE,
            "source": EVENT_SOURCE,
            "account": self.account,
            "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [job.arn],
            "detail": {
                "version": "0.0",
                "accountId": self.account,
                "batchJobName": job.name,
                "batchJobArn": job.arn,
                "batchModelId": job.model_id,
                "status": job.status.value,
                "failureMessage": job.message or "",
                "creationTime": creation_time(job.submit_time),
            },
        }
        self.emitted.append(event)
        return event

    def _describe(self, job: _Job) -> dict[str, Any]:
        request = job.request
        answer: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "modelId": job.model_id,
            "clientRequestToken": request["clientRequestToken"],
            "roleArn": request["roleArn"],
            "status": job.status.value,
            "submitTime": job.submit_time,
            "lastModifiedTime": job.last_modified,
            "inputDataConfig": copy.deepcopy(request["inputDataConfig"]),
            "outputDataConfig": copy.deepcopy(request["outputDataConfig"]),
            "timeoutDurationInHours": request.get("timeoutDurationInHours", DEFAULT_TIMEOUT_HOURS),
            "jobExpirationTime": job.expires_at,
            **job.counts,
        }
        for key in ("vpcConfig", "modelInvocationType"):
            if key in request:
                answer[key] = copy.deepcopy(request[key])
        if job.message is not None:
            answer["message"] = job.message
        if job.end_time is not None:
            answer["endTime"] = job.end_time
        return answer

    def _find(self, operation_name: str, identifier: str) -> _Job:
        job = self._jobs.get(identifier.rsplit("/", 1)[-1])
        if job is None or (identifier.startswith("arn:") and identifier != job.arn):
            raise self._error(
                operation_name,
                "ResourceNotFoundException",
                f"Could not find batch inference job {identifier}.",
            )
        return job

    def _page_start(self, token: str | None, total: int) -> int:
        if token is None:
            return 0
        if not token.isdigit() or int(token) > total:
            raise self._error(LIST, "ValidationException", f"Invalid nextToken {token}.")
        return int(token)

    def _new_job_id(self) -> str:
        alphabet = string.ascii_lowercase + string.digits
        while True:
            job_id = "".join(self._rng.choice(alphabet) for _ in range(12))
            if job_id not in self._jobs:
                return job_id

    def _check_constraints(self, operation_name: str, params: dict[str, Any]) -> None:
        message = check_constraints(SERVICE, operation_name, params)
        if message is not None:
            raise self._error(operation_name, "ValidationException", message)

    def _error(self, operation_name: str, code: str, message: str) -> ClientError:
        return client_error(SERVICE, operation_name, code, message, message=message)

    # -- the job's data ------------------------------------------------------------------

    def _s3(self) -> Any:
        return self.s3_client or aws.client("s3")

    def _read_input(self, job: _Job) -> list[_InputFile]:
        uri = job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        bucket, key = _split(uri)
        try:
            keys = _object_keys(self._s3(), bucket, key)
            files = [
                self._parse(job, name, self._s3().get_object(Bucket=bucket, Key=object_key))
                for name, object_key in keys
            ]
        except ClientError as error:
            raise _InvalidInput(
                f"Unable to read the input at {uri}: {aws.error_code(error)}."
            ) from error
        if not files:
            raise _InvalidInput(f"No .jsonl files were found at {uri}.")
        total = sum(len(f.records) for f in files)
        if total < self.min_records:
            raise _InvalidInput(
                f"The input contains {total} records, fewer than the minimum number of "
                f"records ({self.min_records}) required for a batch inference job."
            )
        if total > self.max_records:
            raise _InvalidInput(
                f"The input contains {total} records, more than the maximum number of "
                f"records ({self.max_records}) allowed for a batch inference job."
            )
        return files

    def _parse(self, job: _Job, name: str, s3_object: dict[str, Any]) -> _InputFile:
        try:
            text = s3_object["Body"].read().decode("utf-8")
        except UnicodeDecodeError as error:
            raise _InvalidInput(f"{name} is not UTF-8 text.") from error
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise _InvalidInput(f"Line {number} of {name} is not valid JSON.") from error
            if not isinstance(record, dict) or not isinstance(record.get("modelInput"), dict):
                raise _InvalidInput(f"Line {number} of {name} has no modelInput object.")
            if "recordId" not in record:
                record = {"recordId": _record_id(job.job_id, name, number), **record}
            records.append(record)
        return _InputFile(name, records)

    def _run(self, job: _Job, timed_out: bool) -> dict[str, int]:
        output_uri = job.request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        bucket, prefix = _split(output_uri)
        folder = f"{prefix.rstrip('/')}/{job.job_id}/".lstrip("/")
        manifest = dict.fromkeys(
            (
                "totalRecordCount",
                "processedRecordCount",
                "successRecordCount",
                "errorRecordCount",
                "inputTokenCount",
                "outputTokenCount",
            ),
            0,
        )
        for input_file in job.files:
            records = input_file.records
            done = records[: len(records) // 2] if timed_out else records
            lines = [self._invoke(job, record, manifest) for record in done]
            random.Random(f"{self.seed}/{job.job_id}/{input_file.name}").shuffle(lines)  # noqa: S311
            body = "".join(json.dumps(line) + "\n" for line in lines)
            self._s3().put_object(
                Bucket=bucket, Key=f"{folder}{input_file.name}.out", Body=body.encode()
            )
            manifest["totalRecordCount"] += len(records)
            manifest["processedRecordCount"] += len(done)
        self._s3().put_object(
            Bucket=bucket, Key=f"{folder}manifest.json.out", Body=json.dumps(manifest).encode()
        )
        return manifest

    def _invoke(
        self, job: _Job, record: dict[str, Any], manifest: dict[str, int]
    ) -> dict[str, Any]:
        line = {"recordId": record["recordId"], "modelInput": record["modelInput"]}
        misplaced = self._misplaced_media(job, record["modelInput"])
        if misplaced:
            manifest["errorRecordCount"] += 1
            return {**line, "error": {"errorCode": 400, "errorMessage": misplaced}}
        fault = self.record_faults.attempt(record["modelInput"])
        if fault is None and self.record_fails(record):
            fault = Fault.malformed_input()
        if fault is not None:
            manifest["errorRecordCount"] += 1
            return {**line, "error": fault.output_error()}
        # the answer on-demand calls give, in the provider's own shape (or Converse's)
        if job.request.get("modelInvocationType") == "Converse":
            output, tokens_in, tokens_out = converse_answer(record["modelInput"])
            output["metrics"] = {"latencyMs": 100}
        else:
            output, tokens_in, tokens_out = invoke_answer(job.model_id, record["modelInput"])
        manifest["successRecordCount"] += 1
        manifest["inputTokenCount"] += tokens_in
        manifest["outputTokenCount"] += tokens_out
        return {**line, "modelOutput": output}

    def _misplaced_media(self, job: _Job, model_input: Any) -> str | None:
        """Why a record's media cannot be read: the service reads the media a record names
        (`s3Location`) from the job's input location, where they must exist."""
        folder = job.request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        folder = folder if folder.endswith("/") else folder.rsplit("/", 1)[0] + "/"
        for _where, uri in media_uris(model_input):
            if not uri.startswith(folder):
                return f"The media {uri} is not in the job's input location {folder}."
            bucket, key = _split(uri)
            try:
                self._s3().head_object(Bucket=bucket, Key=key)
            except ClientError:
                return f"The media {uri} could not be read."
        return None

    # -- delivery ------------------------------------------------------------------------

    def _send(self, events: list[Event]) -> None:
        if not events:
            return
        deliver = self.deliver or PutEventsDelivery(self.events_client or aws.client("events"))
        for event in events:
            deliver(event)


def creation_time(moment: datetime) -> str:
    """The event's `creationTime`: "Aug 28, 2024, 10:47:53 PM", in UTC."""
    utc = moment.astimezone(UTC)
    hour = utc.hour % 12 or 12
    meridiem = "AM" if utc.hour < 12 else "PM"
    return (
        f"{_MONTHS[utc.month - 1]} {utc.day}, {utc.year}, "
        f"{hour}:{utc.minute:02d}:{utc.second:02d} {meridiem}"
    )


# -- helpers ---------------------------------------------------------------------------------


def _listed(job: _Job, params: dict[str, Any]) -> bool:
    after, before = params.get("submitTimeAfter"), params.get("submitTimeBefore")
    return (
        params.get("nameContains", "") in job.name
        and params.get("statusEquals", job.status.value) == job.status.value
        and (after is None or job.submit_time > parse_to_aware_datetime(after))
        and (before is None or job.submit_time < parse_to_aware_datetime(before))
    )


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _object_keys(s3_client: Any, bucket: str, key: str) -> list[tuple[str, str]]:
    """(name, key) of each input file: the object itself, or every .jsonl below a prefix."""
    prefix = key if not key or key.endswith("/") else f"{key}/"
    found: list[str] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        found.extend(item["Key"] for item in page.get("Contents", []))
    if key in found:
        return [(key.rsplit("/", 1)[-1], key)]
    return [
        (object_key.removeprefix(prefix), object_key)
        for object_key in sorted(found)
        if object_key.startswith(prefix) and object_key.endswith(".jsonl")
    ]


def _record_id(job_id: str, file_name: str, line: int) -> str:
    """An 11-character upper-case alphanumeric id, like those the service adds."""
    digest = int(hashlib.sha256(f"{job_id}/{file_name}/{line}".encode()).hexdigest(), 16)
    alphabet = string.digits + string.ascii_uppercase
    chars = []
    for _ in range(11):
        digest, index = divmod(digest, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)
