"""LocalCloud follows the workflow switches: a switched-off workflow is absent locally too,
and the others run as before."""

from __future__ import annotations

import pytest

from dropzone.models.jobs import JobStatus
from dropzone_local.cloud import LocalCloud
from dropzone_local.template import TEMPLATE_PATH, read_document

QUIET = {"POWERTOOLS_LOG_LEVEL": "ERROR"}
# switch → (nested template, a key its upload rule routes)
SWITCHES = {
    "EnableSageMakerAsync": ("sagemaker_async", "sagemaker-async/churn-model/in.json"),
    "EnableBedrockBatch": ("bedrock_batch", "bedrock-batch/some-model/batch/in.jsonl"),
    "EnableModelPackaging": ("model_packaging", "model-packaging/boards/request.json"),
    "EnableEdgeDeployment": ("edge_deployment", "edge-deployments/line-3/deployment.json"),
}


def _functions_of(workflow: str) -> set[str]:
    resources = read_document(TEMPLATE_PATH.parent / "stacks" / f"{workflow}.yaml")["Resources"]
    return {
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_a_switched_off_workflow_is_absent_locally(switch: str) -> None:
    workflow, key = SWITCHES[switch]
    with LocalCloud(parameters={switch: "false"}, function_environment=QUIET) as cloud:
        # Its functions are not there, the others are
        assert not _functions_of(workflow) & set(cloud.functions)
        for other, (other_workflow, _) in SWITCHES.items():
            if other != switch:
                # (off by default: Edge Manager sync, the edge endpoint, Bedrock on demand,
                # the price refresh)
                off = {
                    "EdgeSyncFunction",
                    "EdgeEndpointFunction",
                    "BedrockOnDemandFunction",
                    "BedrockPricesFunction",
                }
                expected = _functions_of(other_workflow) - off
                assert expected <= set(cloud.functions), other
        # An upload under its prefix starts nothing
        cloud.put_object(key, b"{}")
        cloud.run_until_idle()
        assert cloud.jobs() == []
        # And another workflow still runs: a zero-byte drop is REJECTED by its own intake
        other_key = SWITCHES[
            "EnableBedrockBatch" if switch == "EnableSageMakerAsync" else "EnableSageMakerAsync"
        ][1]
        cloud.put_object(other_key, b"")
        cloud.run_until_idle()
        (job,) = cloud.jobs()
        assert job.status is JobStatus.REJECTED
        assert job.source.key == other_key
