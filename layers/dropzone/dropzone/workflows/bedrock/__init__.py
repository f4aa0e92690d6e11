"""Bedrock batch inference: JSONL uploads validated, split, admitted under quota and tracked."""
