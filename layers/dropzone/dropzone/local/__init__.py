"""Local stand-ins for AWS: fakes for services moto lacks, checked against botocore's models.

Nothing here runs in Lambda; it backs the tests, `make demo` and the local cloud.
"""
