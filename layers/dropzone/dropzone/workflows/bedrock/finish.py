"""An upload whose jobs have all ended → another round for its retryable records, or its
result file and final status.

Invoked (asynchronously) whenever one of the upload's jobs ends, and by the reconciler for
an upload whose jobs all ended a while ago. It does nothing while a job is still running,
and holds the upload's lease while it works, so that two invocations never both act. Every
step can be repeated: a round's jobs have derived ids, its files derived keys, and the
result file is written whole or not at all. A round's jobs wait as QUEUED for admission's
next scheduled run (admission wakes this step, so this step cannot wake admission).

Memory stays bounded: the answers are spooled to local storage (`results.Answers`), and
each file is streamed.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dropzone import aws
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.adapters.s3 import S3, parse_s3_uri
from dropzone.clock import utcnow
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger, metrics
from dropzone.settings.bedrock import BedrockSettings
from dropzone.store.ledger import Ledger
from dropzone.workflows.bedrock.estimate import (
    BATCH,
    TokenTally,
    estimate,
    upload_cost,
)
from dropzone.workflows.bedrock.media import restage
from dropzone.workflows.bedrock.on_demand import Pointer, enqueue
from dropzone.workflows.bedrock.outputs import OUTPUT_SUFFIX, numbered_lines
from dropzone.workflows.bedrock.price_sources import load_prices
from dropzone.workflows.bedrock.prices import PriceTable
from dropzone.workflows.bedrock.results import Answers
from dropzone.workflows.bedrock.rounds import (
    ON_DEMAND,
    child_job,
    deadline_passed,
    is_retryable,
    joined,
    not_answered_error,
    not_retried,
    on_demand_records,
    records,
    result_key,
    round_job_id,
    round_lines_key,
    round_of,
    round_part_key,
    split_round,
    upload_outcome,
)
from dropzone.workflows.bedrock.rules import (
    KIND,
    STAGING_PREFIX,
    limits_of,
)
from dropzone.workflows.bedrock.staging import STAGED_ID_DIGITS, names_media, read_index
from dropzone.workflows.bedrock.tokens import record_tokens

_ID_START = len('{"recordId":"')


@dataclass
class BedrockFinisher:
    settings: BedrockSettings
    ledger: Ledger
    s3: S3
    sqs: Any = None
    spool_dir: str | None = None
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    prices: Callable[[], PriceTable] = PriceTable.shipped

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> BedrockFinisher:
        settings = BedrockSettings.from_env()
        sqs = client("sqs") if settings.on_demand == "Enabled" else None
        ledger = Ledger.from_settings(settings, client("dynamodb"))
        return cls(
            settings, ledger, S3(client("s3")), sqs, prices=lambda: load_prices(settings, client)
        )

    def handle(self, event: dict[str, Any]) -> dict[str, str]:
        upload_id = event.get("upload_id")
        if not isinstance(upload_id, str) or not upload_id:
            raise ValueError("the event names no upload_id")
        return {"upload_id": upload_id, "outcome": self.finish(upload_id)}

    def finish(self, upload_id: str) -> str:
        """`waiting` (a job has not ended), `busy` (another invocation holds the upload),
        `round` (a retry round started), `finished` (the result file is written), or
        `ended` (nothing to do: unknown, not split yet, or already ended)."""
        upload = self.ledger.get(upload_id)
        if upload is None or upload.kind is not KIND or upload.status.is_terminal:
            return "ended"
        if upload.status is not JobStatus.SUBMITTED or not upload.children:
            return "ended"  # its submit is still staging it
        children = self.ledger.get_many(upload.children)
        if len(children) < len(upload.children) or not all(
            child.status.is_terminal for child in children
        ):
            return "waiting"
        if not self.ledger.acquire_lease(
            upload_id,
            owner=self.owner,
            lease_seconds=self.settings.lease_seconds,
            status=JobStatus.SUBMITTED,
        ):
            return "busy"
        try:
            return self._finish(upload, children)
        finally:
            self.ledger.release_lease(upload_id, owner=self.owner)

    def _finish(self, upload: Job, children: list[Job]) -> str:
        last_line = max(int(child.options.get("last_line", 0)) for child in children)
        rounds = max(round_of(child) for child in children)
        with tempfile.TemporaryFile(dir=self.spool_dir) as spool:
            answers = Answers(last_line, spool)
            unusable = self._gather(upload, children, answers)
            note = f"{unusable} output lines could not be used" if unusable else ""
            late = deadline_passed(upload, self.clock())
            # past the deadline, one more round finishes what is left, on demand
            retry = answers.retryable_lines(is_retryable)
            if rounds < self.settings.record_retries + (1 if late else 0):
                started, why = self._start_round(upload, children, rounds + 1, retry, late)
                if started:
                    return "round"
                note = joined(note, why)
            elif retry:
                if rounds:
                    spent = f"the upload has had its {rounds} retry round" + "s" * (rounds > 1)
                else:
                    spent = "BedrockRecordRetries is 0"
                left = records(len(retry))
                note = joined(
                    note, f"{left} that may succeed on another try were not retried: {spent}"
                )
            self._write_result(upload, children, answers, rounds, note)
        return "finished"

    # -- gathering ------------------------------------------------------------------------

    def _gather(self, upload: Job, children: list[Job], answers: Answers) -> int:
        """Every answer of every job, rounds in order; then, for each job, the records it
        held but did not answer. Returns how many output lines could not be used."""
        unusable = 0
        for child in sorted(children, key=round_of):
            number = round_of(child)
            for output in self._output_lines(child):
                if answers.add(output, number) is not None:
                    unusable += 1
            code, message = not_answered_error(child)
            for line in self._lines_of(upload, child):
                if not answers.answered_in(line, number):
                    answers.add_error(line, number, code, message)
        if unusable:
            logger.warning(
                "output lines that answer no staged record",
                extra={"job_id": upload.job_id, "lines": unusable},
            )
        return unusable

    def _output_lines(self, child: Job) -> Iterator[bytes]:
        if not child.output_location:
            return
        bucket, prefix = parse_s3_uri(child.output_location)
        for key in self.s3.list_keys(bucket, prefix):
            if key.endswith(OUTPUT_SUFFIX):
                for _number, line in numbered_lines(self.s3.iter_chunks(bucket, key)):
                    yield line

    def _lines_of(self, upload: Job, child: Job) -> Iterator[int]:
        """The input lines a job held: a range of the record index for a part, its own
        list for a retry round's job."""
        if round_of(child) == 0:
            first = int(child.options["first_line"])
            last = int(child.options["last_line"])
            for line, _record_id in self._index(upload):
                if line > last:
                    return
                if line >= first:
                    yield line
            return
        bucket, key = parse_s3_uri(str(child.options["lines_uri"]))
        for raw in self.s3.iter_lines(bucket, key):
            yield int(raw)

    def _index(self, upload: Job) -> Iterator[tuple[int, str | None]]:
        bucket, key = parse_s3_uri(str(upload.options["records_uri"]))
        return read_index(self.s3.iter_lines(bucket, key))

    # -- another round --------------------------------------------------------------------

    def _start_round(
        self, upload: Job, children: list[Job], number: int, lines: list[int], late: bool
    ) -> tuple[bool, str]:
        """Start round `number` for `lines`: batch jobs, or one job on demand when they are
        too few for a batch job or the deadline has passed. (False, why) when it cannot."""
        if not lines:
            return False, ""
        limits = limits_of(self.settings)
        on_demand = late or len(lines) < limits.min_records_per_job
        if on_demand:
            why = self._why_not_on_demand(children, len(lines), late)
            if why:
                return False, why
            room = self.settings.on_demand_max_records - on_demand_records(children)
            if room < len(lines):
                logger.warning(
                    "records past the on-demand cap keep their errors",
                    extra={"job_id": upload.job_id, "records": len(lines) - room},
                )
            parts = [lines[:room]]
        else:
            parts = split_round(lines, limits.part_records)
        tallies = [TokenTally() for _ in parts]
        offsets = self._restage(upload, children, number, parts, tallies)
        created = [
            self._create_round_job(upload, number, index, part, on_demand, tally)
            for index, (part, tally) in enumerate(zip(parts, tallies, strict=True), 1)
        ]
        if on_demand:
            (job_id,) = created
            (uri,) = {pointer_uri for pointer_uri, _, _, _ in offsets}
            enqueue(
                self.sqs,
                self.settings.on_demand_queue_url,
                (Pointer(job_id, line, uri, offset, length) for _, line, offset, length in offsets),
            )
        jobs = "1 job on demand" if on_demand else f"{len(created)} jobs"
        self.ledger.annotate(
            upload.job_id,
            KIND,
            JobStatus.SUBMITTED,
            updates={
                "children": list(dict.fromkeys([*upload.children, *created])),
                "message": f"retry round {number}: {records(sum(map(len, parts)))} in {jobs}",
            },
        )
        metrics.add_metric(name="BedrockRecordsRetried", unit="Count", value=len(lines))
        return True, ""

    def _why_not_on_demand(self, children: list[Job], count: int, late: bool) -> str:
        reason = (
            "the deadline has passed"
            if late
            else (f"fewer than the batch minimum of {self.settings.min_records_per_job}")
        )
        if self.settings.on_demand != "Enabled":
            reason += ", and on-demand finishing is off"
        elif on_demand_records(children) >= self.settings.on_demand_max_records:
            reason += (
                f", and the upload has had its {self.settings.on_demand_max_records} "
                "records on demand"
            )
        else:
            return ""
        return f"{not_retried(count)}: {reason}"

    def _restage(
        self,
        upload: Job,
        children: list[Job],
        number: int,
        parts: list[list[int]],
        tallies: list[TokenTally],
    ) -> list[tuple[str, int, int, int]]:
        """Copy the lines of each part of round `number` from the upload's staged parts,
        estimating each record's tokens into its part's tally; (staged uri, line, offset,
        length) of every record copied."""
        model_id = upload.target
        invocation_type = str(upload.options.get("invocation_type", "InvokeModel"))
        wanted = {line: index for index, part in enumerate(parts, 1) for line in part}
        bucket = self.settings.results_bucket
        keys = {
            index: round_part_key(STAGING_PREFIX, upload.job_id, number, index)
            for index in range(1, len(parts) + 1)
        }
        writers = {index: self.s3.multipart_writer(bucket, key) for index, key in keys.items()}
        written = dict.fromkeys(keys, 0)
        copied: set[str] = set()
        offsets: list[tuple[str, int, int, int]] = []
        try:
            for child in sorted(children, key=lambda job: job.job_id):
                if round_of(child) != 0:
                    continue
                staged_bucket, staged_key = parse_s3_uri(str(child.options["input_uri"]))
                for staged in self.s3.iter_lines(staged_bucket, staged_key):
                    line = int(staged[_ID_START : _ID_START + STAGED_ID_DIGITS])
                    index = wanted.get(line)
                    if index is None:
                        continue
                    record = staged.rstrip(b"\r")
                    model_input = json.loads(record)["modelInput"]
                    tallies[index - 1].add(record_tokens(model_input, model_id, invocation_type))
                    if names_media(record):  # the media go into the round's folder too
                        folder = keys[index].rsplit("/", 1)[0] + "/"
                        record = restage(self.s3, record, folder, bucket, copied)
                    writers[index].write(record + b"\n")
                    offsets.append(
                        (f"s3://{bucket}/{keys[index]}", line, written[index], len(record))
                    )
                    written[index] += len(record) + 1
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        for writer in writers.values():
            writer.close()
        return offsets

    def _create_round_job(
        self,
        upload: Job,
        number: int,
        index: int,
        lines: list[int],
        on_demand: bool,
        tally: TokenTally,
    ) -> str:
        """A round's job, estimated from its own records (the records that fail are often
        not the upload's typical ones)."""
        bucket = self.settings.results_bucket
        lines_key = round_lines_key(STAGING_PREFIX, upload.job_id, number, index)
        self.s3.put_bytes(bucket, lines_key, b"".join(b"%d\n" % line for line in lines))
        job_id = round_job_id(upload.job_id, number, index, on_demand=on_demand)
        options: dict[str, Any] = {
            name: upload.options[name]
            for name in ("batch_name", "invocation_type", "timeout_hours", "deadline")
            if name in upload.options
        }
        message = f"retry round {number}, part {index}: {records(len(lines))}"
        price = self.prices().price(upload.target)
        self.ledger.create(
            child_job(
                upload,
                job_id,
                on_demand=on_demand,
                results_bucket=bucket,
                message=message + (" on demand" if on_demand else ""),
                options={
                    **options,
                    "round": number,
                    "part": index,
                    "input_uri": f"s3://{bucket}/"
                    + round_part_key(STAGING_PREFIX, upload.job_id, number, index),
                    "lines_uri": f"s3://{bucket}/{lines_key}",
                },
                counts={"input_records": len(lines)},
                estimate=estimate(tally, price, ON_DEMAND if on_demand else BATCH),
            )
        )
        return job_id

    # -- the result -----------------------------------------------------------------------

    def _write_result(
        self, upload: Job, children: list[Job], answers: Answers, rounds: int, note: str
    ) -> None:
        bucket = self.settings.results_bucket
        key = result_key(upload.job_id)
        writer = self.s3.multipart_writer(bucket, key)
        try:
            result = answers.write(self._index(upload), writer)
        except BaseException:
            writer.abort()
            raise
        writer.close()
        outcome = upload_outcome(upload, children, result, rounds, note)
        self.ledger.transition(
            upload.job_id,
            KIND,
            outcome.status,
            message=outcome.message,
            updates={
                "counts": outcome.counts,
                "output_location": f"s3://{bucket}/{key}",
                "cost": upload_cost(children),
            },
        )
        metrics.add_metric(name="BedrockResultRecords", unit="Count", value=result.records)


def wake_finish(invoker: LambdaInvoker, settings: BedrockSettings, upload_id: str) -> None:
    """Ask the finishing step to look at an upload (it does nothing while a job runs)."""
    invoker.invoke_async(settings.finish_function, {"upload_id": upload_id})
