"""`dropzone stop`: stop a Bedrock batch job that Bedrock is running."""

from __future__ import annotations

from dropzone.adapters.bedrock import Bedrock, JobNotFound
from dropzone.errors import InvalidInput, TransientError
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone_cli.common import CliError
from dropzone_cli.jobs import RemoteJobs, resolve_job
from dropzone_cli.render import Printer
from dropzone_cli.stack import DeployedStack

STOPPABLE = (JobStatus.SUBMITTED, JobStatus.RUNNING)


def stop(stack: DeployedStack, job_id: str, printer: Printer) -> int:
    jobs = RemoteJobs(stack.jobs_table(), stack.target.client("dynamodb"))
    job = resolve_job(jobs, job_id)
    arn = _stoppable_arn(jobs, job)
    try:
        Bedrock(stack.target.client("bedrock")).stop_job(arn)
    except JobNotFound as error:
        raise CliError(f"Bedrock has no job {arn}", exit_code=1) from error
    except InvalidInput as error:
        raise CliError(f"Bedrock refused to stop {arn}: {error.message}", exit_code=1) from error
    except TransientError as error:
        raise CliError(f"could not stop {arn}: {error}", exit_code=1) from error
    if printer.output != "table":
        printer.record({"job_id": job.job_id, "job_arn": arn, "stop_requested": True})
        return 0
    print(f"stop requested for job {job.job_id}: {arn}")
    print(
        "Bedrock moves it to Stopping, then Stopped; Dropzone records STOPPED when its state "
        "function or reconciler sees that (`dropzone jobs show` follows it)."
    )
    return 0


def _stoppable_arn(jobs: RemoteJobs, job: Job) -> str:
    if job.kind is not JobKind.BEDROCK_BATCH:
        raise CliError(
            f"job {job.job_id} is a {job.kind} job: only bedrock_batch jobs can be stopped"
        )
    if job.status.is_terminal:
        raise CliError(f"job {job.job_id} has already ended: {job.status}", exit_code=1)
    arn = (job.model_extra or {}).get("job_arn")
    if job.children and not arn:
        parts = []
        for child_id in job.children:
            child = jobs.get(child_id)
            parts.append(f"{child_id} {child.status if child else 'missing'}")
        raise CliError(
            f"job {job.job_id} was split into {len(job.children)} Bedrock jobs; stop the "
            "parts that are SUBMITTED or RUNNING one by one: " + ", ".join(parts)
        )
    if job.status not in STOPPABLE:
        raise CliError(
            f"job {job.job_id} is {job.status}: Bedrock has no job for it yet, so there is "
            "nothing to stop (only SUBMITTED or RUNNING jobs can be stopped)",
            exit_code=1,
        )
    if not isinstance(arn, str) or not arn:
        raise CliError(f"job {job.job_id} is {job.status} but records no job_arn", exit_code=1)
    return arn
