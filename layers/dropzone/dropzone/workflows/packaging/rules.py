"""Model packaging's rules: the request's key, the job's name and output place, Lookout
for Vision's statuses, and which file under the output prefix is the packaged model.

Lookout for Vision's statuses map onto the ledger as:

    CREATED → SUBMITTED    RUNNING → RUNNING    SUCCEEDED → SUCCEEDED    FAILED → FAILED
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dropzone.errors import InvalidInput, Problem
from dropzone.models.greengrass import GreengrassDeploymentSection, RolloutPolicy, S3Location
from dropzone.models.jobs import JobKind, JobStatus
from dropzone.models.packaging import (
    OUTPUTS_PREFIX,
    USER_JOB_NAME_MAX,
    PackagingRequest,
    check_project_name,
)
from dropzone.models.s3_events import key_parts

if TYPE_CHECKING:
    from dropzone.workflows.edge.rollout import PackagedComponent

KIND = JobKind.MODEL_PACKAGING
SERVICE_STATUSES: dict[str, JobStatus] = {
    "CREATED": JobStatus.SUBMITTED,
    "RUNNING": JobStatus.RUNNING,
    "SUCCEEDED": JobStatus.SUCCEEDED,
    "FAILED": JobStatus.FAILED,
}
# Files beside the packaged model that are not the model itself.
_NOT_ARTIFACTS = (".json", ".yaml", ".yml", "/")
_ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")


def service_ref(project_name: str, job_name: str) -> str:
    return f"lookoutvision:{project_name}/{job_name}"


def job_name_for(job_id: str, requested: str | None) -> str:
    """The job id, after the request's JobName (shortened) when it gives one: unique per
    upload, so a retry can only ever meet its own job."""
    if not requested:
        return job_id
    return f"{requested[:USER_JOB_NAME_MAX].rstrip('-')}-{job_id}"


def default_output(job_id: str, results_bucket: str) -> S3Location:
    return S3Location.model_validate(
        {"Bucket": results_bucket, "Prefix": f"{OUTPUTS_PREFIX}{job_id}/"}
    )


def project_from_key(key: str, prefix: str) -> str:
    parts = key_parts(key, prefix, layout="<ProjectName>/<name>.json", min_parts=2)
    if not key.endswith(".json"):
        raise InvalidInput.single(
            "key", f"packaging requests are .json files, got {parts[-1][:80]!r}"
        )
    check_project_name(parts[0])
    return parts[0]


def find_artifact(keys: list[str], prefix: str, component: PackagedComponent) -> str | None:
    """The packaged model among the keys written under the job's output prefix.

    The exact layout Lookout for Vision writes is not documented; prefer an archive in a
    `<ComponentName>/<ComponentVersion>/` folder, then any archive named after the
    component, then the only file that is not a recipe. None when that is not one file."""
    files = [key for key in keys if key.startswith(prefix) and not key.endswith(_NOT_ARTIFACTS)]
    folder = f"{component.name}/{component.version}/"
    tiers = [
        [key for key in files if folder in key and key.endswith(_ARCHIVES)],
        [
            key
            for key in files
            if key.rsplit("/", 1)[-1].startswith(component.name) and key.endswith(_ARCHIVES)
        ],
        files,
    ]
    for candidates in tiers:
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            return None
    return None


def refuse_edge_sections(request: PackagingRequest) -> None:
    """A stack that deploys no edge deployments takes no request for one."""
    named = (("Edge", request.edge), ("GreengrassDeployment", request.greengrass_deployment))
    sections = [name for name, section in named if section is not None]
    if sections:
        raise InvalidInput(
            [
                Problem(
                    name,
                    "edge deployments are switched off in this stack (EnableEdgeDeployment is "
                    "false): remove the section, or deploy the stack with them on",
                )
                for name in sections
            ]
        )


def check_rollout(section: GreengrassDeploymentSection, policy: RolloutPolicy) -> None:
    """A Greengrass roll-out only to a target GreengrassTargets lists, and replacing the
    target's components only with GreengrassReplaceComponents: InvalidInput otherwise,
    naming the allowed targets (or saying roll-outs are off) and the parameter."""
    policy.check(section)
