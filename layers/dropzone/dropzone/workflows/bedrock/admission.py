"""QUEUED → CreateModelInvocationJob → SUBMITTED, never more than N jobs per model.

Queued jobs go oldest first while their model has a free slot; a job whose request Bedrock
finds invalid is REJECTED, one it pushes back on stays queued for the next run.

With a daily budget (BedrockDailyBudgetUsd), a job first holds its upper estimate in the
budget's window (`store.spend`). When the window has no room for it, it stays QUEUED with
the reason as its message, and the run admits no later job, so the oldest goes first once
spend ages out; a job that alone could cost more than the budget is REJECTED instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dropzone import aws
from dropzone.adapters.bedrock import Backpressure, Bedrock, Refused
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.adapters.s3 import S3
from dropzone.clock import utcnow
from dropzone.errors import InvalidInput, TransientError
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger, metrics
from dropzone.settings.bedrock import BedrockSettings
from dropzone.store.ledger import Ledger
from dropzone.store.slots import ModelSlots
from dropzone.store.spend import Admitted, SpendWindow
from dropzone.workflows.bedrock.budget import (
    SUBMITTED_AFTER_WAITING,
    is_waiting,
    reservation,
    too_large,
    wait_reason,
)
from dropzone.workflows.bedrock.cost_metric import emit_slots_in_use
from dropzone.workflows.bedrock.finish import wake_finish
from dropzone.workflows.bedrock.rounds import deadline_passed
from dropzone.workflows.bedrock.rules import KIND, OUTPUTS_PREFIX, input_folder, service_ref
from dropzone.workflows.rejection import reject


@dataclass(frozen=True)
class AdmissionSummary:
    submitted: int = 0
    rejected: int = 0
    full_models: int = 0  # models whose slots were all taken: their jobs keep waiting
    # 1 when the daily budget had no room for the next job: it and every later one wait
    waiting_for_budget: int = 0


@dataclass
class BedrockAdmission:
    settings: BedrockSettings
    ledger: Ledger
    slots: ModelSlots
    bedrock: Bedrock
    s3: S3
    invoker: LambdaInvoker
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    spend: SpendWindow | None = None  # the daily budget's window, when there is a budget

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> BedrockAdmission:
        settings = BedrockSettings.from_env().require("bedrock_role_arn", "finish_function")
        budget = settings.daily_budget_usd > 0
        return cls(
            settings,
            Ledger.from_settings(settings, client("dynamodb")),
            ModelSlots(settings.slots_table, settings.max_jobs_per_model, client("dynamodb")),
            Bedrock(client("bedrock")),
            S3(client("s3")),
            LambdaInvoker(client("lambda")),
            spend=SpendWindow(settings.slots_table, client("dynamodb")) if budget else None,
        )

    def admit(self, model_id: str | None = None) -> AdmissionSummary:
        """Submit queued jobs, oldest first, while their model has free slots and the daily
        budget has room."""
        submitted = rejected = waiting_for_budget = 0
        blocked: set[str] = set()
        if self.spend is not None and self.settings.daily_budget_usd > 0:
            # under a daily budget the oldest job goes first, whatever its model: a run
            # woken for one model looks at them all, so none passes a job that waits
            model_id = None
        if model_id and len(self.slots.holders(model_id)) >= self.slots.limit:
            return AdmissionSummary(full_models=1)  # one read instead of a query
        failure: Exception | None = None
        for job_id, target in self.ledger.refs_by_state(KIND, JobStatus.QUEUED):
            if model_id and model_id in blocked:
                break  # the model asked about is full: the rest can only wait
            if (model_id and target != model_id) or target in blocked:
                continue
            try:
                outcome = self._admit_one(job_id, target)
            except Exception as error:  # one job's failure must not stall every model
                logger.warning(
                    "could not submit job; its model waits until the next run",
                    extra={"job_id": job_id, "model_id": target, "error": repr(error)[:500]},
                )
                metrics.add_metric(name="BedrockSubmitErrors", unit="Count", value=1)
                failure = failure or error
                blocked.add(target)
                continue
            if outcome == "submitted":
                submitted += 1
            elif outcome == "rejected":
                rejected += 1
            elif outcome == "full":
                blocked.add(target)
            elif outcome == "budget":  # later jobs wait behind it, whatever their model
                waiting_for_budget = 1
                break
        if model_id is None:  # the scheduled run: every model's slots, for the dashboard
            self._report_slots()
        summary = AdmissionSummary(
            submitted, rejected, full_models=len(blocked), waiting_for_budget=waiting_for_budget
        )
        logger.info("admission finished", extra={"model_id": model_id, **summary.__dict__})
        if failure is not None:  # fail the run too, so it is retried and alarmed
            raise TransientError(f"admission left jobs queued after errors: {failure}") from failure
        return summary

    def _admit_one(self, job_id: str, model_id: str) -> str:
        if not self.ledger.acquire_lease(
            job_id,
            owner=self.owner,
            lease_seconds=self.settings.lease_seconds,
            status=JobStatus.QUEUED,
        ):
            return "busy"
        job = self.ledger.get(job_id)
        if job is None or job.status is not JobStatus.QUEUED:
            return "busy"
        if deadline_passed(job, self.clock()):  # its records are finished on demand instead
            self.ledger.transition(
                job_id,
                KIND,
                JobStatus.STOPPED,
                message="the upload's deadline passed before the job was submitted",
            )
            self._release_spend(job_id)
            if job.parent_id:
                wake_finish(self.invoker, self.settings, job.parent_id)
            return "stopped"
        held = self._hold_spend(job)
        if held is not None:
            return held
        if not self.slots.acquire(model_id, job_id):
            self._release_spend(job_id)
            self.ledger.release_lease(job_id, owner=self.owner)
            return "full"
        try:
            job_arn = self.bedrock.create_job(**self.request(job))
        except (Backpressure, Refused) as pressure:
            logger.info(
                "Bedrock pushed back; job stays queued",
                extra={"job_id": job_id, "reason": str(pressure)},
            )
            metrics.add_metric(name="BedrockBackpressure", unit="Count", value=1)
            self._give_back(job)
            return "full"
        except InvalidInput as invalid:
            self.slots.release(model_id, job_id)
            self._release_spend(job_id)
            return self._reject(job, invalid)
        except Exception:
            # 5xx or a lost connection: the job may exist in Bedrock, so it keeps its
            # slot and its reservation; the retry reuses both and the same
            # clientRequestToken.
            self.ledger.release_lease(job_id, owner=self.owner)
            raise
        bedrock_id = job_arn.rsplit("/", 1)[-1]
        self.ledger.transition(
            job_id,
            KIND,
            JobStatus.SUBMITTED,
            service_status="Submitted",
            message=SUBMITTED_AFTER_WAITING if is_waiting(job.message) else None,
            updates={
                "service_ref": service_ref(job_arn),
                "job_arn": job_arn,
                "output_location": (
                    f"s3://{self.settings.results_bucket}/{OUTPUTS_PREFIX}{job_id}/{bedrock_id}/"
                ),
            },
        )
        metrics.add_metric(name="BedrockJobsSubmitted", unit="Count", value=1)
        return "submitted"

    def _report_slots(self) -> None:
        """`BedrockSlotsInUse` per model: the jobs holding its slots, against the limit."""
        for model, holders in self.slots.in_use().items():
            emit_slots_in_use(model, holders)

    def _reject(self, job: Job, invalid: InvalidInput) -> str:
        """REJECTED with its report; its upload's finishing step is woken."""
        reject(
            job,
            invalid,
            ledger=self.ledger,
            s3=self.s3,
            results_bucket=self.settings.results_bucket,
        )
        if job.parent_id:
            wake_finish(self.invoker, self.settings, job.parent_id)
        return "rejected"

    def _give_back(self, job: Job) -> None:
        self.slots.release(job.target, job.job_id)
        self._release_spend(job.job_id)
        self.ledger.release_lease(job.job_id, owner=self.owner)

    def _hold_spend(self, job: Job) -> str | None:
        """Hold the job's upper estimate in the daily budget's window: None when it holds
        it (or there is no budget, or its price is unknown) and may go on; "budget" when
        the window has no room for it yet; "rejected" when it never will."""
        cap = self.settings.daily_budget_usd
        if self.spend is None or cap <= 0:
            return None
        try:
            held = self.spend.reserve(job.job_id, reservation(job), cap)
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise
        if isinstance(held, Admitted):
            return None
        if held.never_fits:
            return self._reject(job, too_large(held))
        if not is_waiting(job.message):  # written once: each write moves it back in the queue
            self.ledger.annotate(
                job.job_id, KIND, JobStatus.QUEUED, updates={"message": wait_reason(held)}
            )
        logger.info(
            "the daily budget has no room for the job yet; it and later jobs wait",
            extra={"job_id": job.job_id, "room_from": str(held.room_from)},
        )
        metrics.add_metric(name="BedrockJobsWaitingForBudget", unit="Count", value=1)
        self.ledger.release_lease(job.job_id, owner=self.owner)
        return "budget"

    def _release_spend(self, job_id: str) -> None:
        if self.spend is not None:
            self.spend.release(job_id)

    def request(self, job: Job) -> dict[str, Any]:
        tags = [
            {"key": "dropzone:job-id", "value": job.job_id},
            {"key": "dropzone:kind", "value": KIND.value},
        ]
        if job.parent_id:
            tags.append({"key": "dropzone:parent-id", "value": job.parent_id})
        return {
            "jobName": job.job_id,
            "roleArn": self.settings.bedrock_role_arn,
            "clientRequestToken": job.job_id,
            "modelId": job.target,
            "inputDataConfig": {
                "s3InputDataConfig": {
                    "s3Uri": input_folder(str(job.options["input_uri"])),
                    "s3InputFormat": "JSONL",
                }
            },
            "outputDataConfig": {
                "s3OutputDataConfig": {
                    "s3Uri": f"s3://{self.settings.results_bucket}/{OUTPUTS_PREFIX}{job.job_id}/"
                }
            },
            "timeoutDurationInHours": int(job.options["timeout_hours"]),
            "modelInvocationType": job.options["invocation_type"],
            "tags": tags,
        }
