from __future__ import annotations

import os

# Before anything imports boto3 or Powertools: fake credentials, no tracing, one namespace.
for _name, _value in {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "Dropzone",
    "POWERTOOLS_SERVICE_NAME": "dropzone-tests",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}.items():
    os.environ[_name] = _value

pytest_plugins = ["tests.support.fixtures"]
