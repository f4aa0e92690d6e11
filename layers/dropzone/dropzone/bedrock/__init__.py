"""Amazon Bedrock batch inference: what an input file must hold and how it is split."""
