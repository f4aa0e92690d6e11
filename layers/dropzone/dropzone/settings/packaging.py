"""The model packaging functions' settings: submit and poll, and what submit's lease
guards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from dropzone.leases import GuardedCall, LeaseGuard
from dropzone.settings import CLAIM, HEADS, REJECT, Settings

if TYPE_CHECKING:  # the Greengrass models are imported by the functions that roll out
    from dropzone.models.greengrass import RolloutPolicy

# GreengrassTargets: up to MAX_GREENGRASS_TARGETS thing or thing group names, each exact or
# a prefix ending in "*", comma-separated. The stack builds one IAM resource ARN per entry
# (stacks/model_packaging.yaml), hence the fixed maximum.
MAX_GREENGRASS_TARGETS = 10
_TARGET_ENTRY = r"[a-zA-Z0-9:_-]+\*?"
GREENGRASS_TARGETS_PATTERN = (
    rf"^$|^{_TARGET_ENTRY}(,{_TARGET_ENTRY}){{0,{MAX_GREENGRASS_TARGETS - 1}}}$"
)


class PackagingSettings(Settings):
    """Shared by the model packaging functions: submit and poll."""

    results_bucket: str = Field(min_length=3)
    model_packaging_prefix: str = "model-packaging/"
    lease_seconds: int = Field(default=120, ge=10)
    # DescribeModelPackagingJob's limit; the poller keeps below it by tps_safety_factor.
    describe_tps: float = Field(default=5.0, gt=0, le=100)
    tps_safety_factor: float = Field(default=0.9, gt=0, le=1)
    # Seconds of the invocation kept free after the last describe call of a run.
    poll_reserve_seconds: float = Field(default=10.0, ge=0)
    # How long a job Dropzone started may be unknown to the service before it fails.
    not_found_grace_minutes: int = Field(default=15, ge=1)
    # Needed only for the hand-off to edge deployment records (the poller).
    edge_devices_table: str = ""
    # Whether the stack deploys edge deployments: when it does not, requests that name a
    # fleet (Edge) or a Greengrass target (GreengrassDeployment) are rejected at intake.
    edge_deployments: Literal["Enabled", "Disabled"] = "Enabled"
    # The things and thing groups a GreengrassDeployment may target: comma-separated names,
    # or name prefixes ending in "*". Empty: roll-outs are off, and every request naming
    # a target is rejected at intake (and refused by the poller).
    greengrass_targets: str = Field(default="", pattern=GREENGRASS_TARGETS_PATTERN)
    # Whether a roll-out may replace the target's components (KeepExistingComponents false).
    greengrass_replace_components: bool = False
    # A hand-off may stream a large packaged model to checksum it: it starts only with
    # this much of the invocation left, else the next run does it first.
    handoff_reserve_seconds: float = Field(default=20.0, ge=0)
    # Hand-off attempts before its records are failed with a report and the packaging
    # job is settled anyway.
    max_handoff_attempts: int = Field(default=5, ge=1)
    # StartModelPackagingJob refused for the concurrent jobs quota: the message's next
    # delivery waits this long times its receive count, up to quota_retry_max_seconds.
    quota_retry_seconds: int = Field(default=900, ge=1, le=43_200)
    quota_retry_max_seconds: int = Field(default=3600, ge=1, le=43_200)

    @property
    def rollout_policy(self) -> RolloutPolicy:
        from dropzone.models.greengrass import RolloutPolicy

        return RolloutPolicy.from_setting(
            self.greengrass_targets, replace_components=self.greengrass_replace_components
        )


PACKAGING_LEASE = (
    LeaseGuard(
        "dropzone.workflows.packaging.submit.PackagingSubmitter.submit",
        (
            CLAIM,
            HEADS,
            GuardedCall("s3:GetObject"),  # the request, at most 64 KiB
            GuardedCall("lookoutvision:StartModelPackagingJob"),
            GuardedCall("lookoutvision:DescribeModelPackagingJob"),  # after a conflict
            *REJECT,
        ),
    ),
)
