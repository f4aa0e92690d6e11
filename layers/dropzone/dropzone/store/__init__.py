"""All persistence: the job ledger, edge device records and Bedrock model slots."""
