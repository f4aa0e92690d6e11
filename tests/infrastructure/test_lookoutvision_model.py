"""The Lookout for Vision client works on current boto3 through botocore's data path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import botocore
import pytest
from botocore.stub import Stubber

from dropzone import botocore_data
from dropzone_local.template import load_template, resources_of_type

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(botocore_data.DATA_PATH) / "lookoutvision" / "2020-11-20"
sys.path.insert(0, str(ROOT / "scripts"))
import extract_lookoutvision_model as extractor  # noqa: E402


def test_current_botocore_no_longer_ships_the_model_itself() -> None:
    builtin = Path(botocore.__file__).parent / "data" / "lookoutvision"
    assert not builtin.exists()


def test_a_new_session_creates_the_client_with_the_operations_dropzone_uses() -> None:
    client = boto3.session.Session(region_name="eu-west-1").client("lookoutvision")
    operations = client.meta.service_model.operation_names
    assert {"StartModelPackagingJob", "DescribeModelPackagingJob"} <= set(operations)
    assert client.meta.endpoint_url == "https://lookoutvision.eu-west-1.amazonaws.com"
    assert client.can_paginate("list_model_packaging_jobs")


def test_requests_are_checked_against_the_real_shapes() -> None:
    client = boto3.client("lookoutvision", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response(
            "start_model_packaging_job",
            {"JobName": "dz-job"},
            {
                "ProjectName": "circuit-boards",
                "ModelVersion": "1",
                "JobName": "dz-job",
                "ClientToken": "dz-token",
                "Configuration": {
                    "Greengrass": {
                        "TargetDevice": "jetson_xavier",
                        "S3OutputLocation": {"Bucket": "results", "Prefix": "out/"},
                        "ComponentName": "circuit-boards-model",
                    }
                },
            },
        )
        response = client.start_model_packaging_job(
            ProjectName="circuit-boards",
            ModelVersion="1",
            JobName="dz-job",
            ClientToken="dz-token",
            Configuration={
                "Greengrass": {
                    "TargetDevice": "jetson_xavier",
                    "S3OutputLocation": {"Bucket": "results", "Prefix": "out/"},
                    "ComponentName": "circuit-boards-model",
                }
            },
        )
    assert response["JobName"] == "dz-job"
    with pytest.raises(botocore.exceptions.ParamValidationError):
        client.start_model_packaging_job(ProjectName="p", ModelVersion="1")


def test_a_fresh_interpreter_finds_the_model_through_aws_data_path_alone() -> None:
    """What Lambda does: AWS_DATA_PATH from the template, before Dropzone is imported."""
    env = {**os.environ, "AWS_DATA_PATH": botocore_data.DATA_PATH}
    code = (
        "import boto3; c = boto3.client('lookoutvision', region_name='us-east-1'); "
        "print(c.meta.service_model.service_name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "lookoutvision"


def test_the_template_points_lambda_at_the_model_inside_the_layer() -> None:
    template = load_template()
    layer = template["Resources"]["DropzoneLayer"]["Properties"]["ContentUri"]
    functions = resources_of_type(template, "AWS::Serverless::Function")
    data_paths = {
        function["Properties"]["Environment"]["Variables"]["AWS_DATA_PATH"]
        for function in functions.values()
    }
    # Every function, in every nested template, has the one path; a python layer's
    # content lands under /opt/python.
    assert len(data_paths) == 1
    assert len(functions) == len(list((ROOT / "functions").glob("*/app.py")))
    in_layer = Path(data_paths.pop()).relative_to("/opt/python")
    assert (ROOT / layer / in_layer / "lookoutvision" / "2020-11-20" / "service-2.json").is_file()


def test_the_committed_model_carries_no_documentation_prose() -> None:
    for name in extractor.FILES:
        text = (MODEL_DIR / name).read_text()
        assert not any(f'"{key}"' in text for key in extractor.PROSE_KEYS), name
    model = json.loads((MODEL_DIR / "service-2.json").read_text())
    assert model["metadata"]["endpointPrefix"] == "lookoutvision"


def test_stripping_removes_prose_at_every_depth_and_keeps_the_shapes() -> None:
    model = {
        "documentation": "words",
        "shapes": {"S": {"type": "string", "documentation": "more", "max": 3}},
        "list": [{"documentationUrl": "u", "keep": 1}],
    }
    assert extractor.strip_prose(model) == {
        "shapes": {"S": {"type": "string", "max": 3}},
        "list": [{"keep": 1}],
    }


def test_a_wheel_without_the_pinned_digest_is_refused() -> None:
    with pytest.raises(SystemExit, match="pinned"):
        extractor.verified(b"not the wheel")
