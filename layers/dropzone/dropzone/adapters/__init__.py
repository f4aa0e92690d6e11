"""One small adapter per AWS service; boto3 appears nowhere above this layer."""
