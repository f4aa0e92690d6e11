"""Merge throughput and peak memory of an upload's result file
(dropzone.workflows.bedrock.results.Answers).

    python benchmarks/results.py --records 50000 --mb 1000

Spawned by run.py (section 5 of `make bench`) in a fresh interpreter; prints one JSON
document on stdout.

The input is what Bedrock writes for a job: `<input>.jsonl.out` lines
`{"recordId", "modelInput", "modelOutput"}` (one in 50 an `error` instead), in an order that
is not input order, streamed in 1 MiB chunks as S3 streams them. Each answer is about
`--mb` / `--records` bytes. The lines are made lazily from one template, so the generator
holds one line, not the output.

Timed, in this process:
  generator  the chunks alone, consumed: what the merge also pays to get its input
  merge      numbered_lines + Answers.add for every line (spooled to a temporary file),
             then Answers.write of every record in input order to a sink that counts bytes
MB/s = output bytes / (merge - generator). Peak RSS: the process's own high-water mark
(memory.peak_rss_bytes) at the end, and before the merge started (the interpreter and
imports).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator

from memory import peak_rss_bytes  # benchmarks/memory.py: this script runs from its folder

from dropzone.workflows.bedrock.outputs import numbered_lines
from dropzone.workflows.bedrock.results import Answers
from dropzone.workflows.bedrock.staging import staged_id

MB = 1_000_000
CHUNK = 1 << 20  # dropzone.adapters.s3.S3.iter_chunks


def output_chunks(records: int, total_bytes: int, seed: int = 7) -> Iterator[bytes]:
    """Bedrock's output for `records` staged records, shuffled, about `total_bytes` long."""
    order = list(range(1, records + 1))
    random.Random(seed).shuffle(order)
    model_input = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 512, "messages": []}
    prefix_size = len(json.dumps({"recordId": staged_id(1), "modelInput": model_input}))
    text = ("The answer, in a few words of English. " * (total_bytes // records // 39 + 1))[
        : max(1, total_bytes // records - prefix_size - 120)
    ]
    pending = bytearray()
    for line in order:
        record: dict[str, object] = {"recordId": staged_id(line), "modelInput": model_input}
        if line % 50 == 0:
            record["error"] = {"errorCode": 429, "errorMessage": "Too many requests"}
        else:
            record["modelOutput"] = {
                "id": f"msg_{line}",
                "content": [{"type": "text", "text": text}],
                "usage": {"input_tokens": 12, "output_tokens": 300},
            }
        pending += json.dumps(record).encode() + b"\n"
        while len(pending) >= CHUNK:
            yield bytes(pending[:CHUNK])
            del pending[:CHUNK]
    if pending:
        yield bytes(pending)


class CountingSink:
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)


def max_rss_mb() -> float:
    return peak_rss_bytes() / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--mb", type=int, default=1000)
    args = parser.parse_args()
    total = args.mb * MB

    start = time.perf_counter()
    generated = sum(len(chunk) for chunk in output_chunks(args.records, total))
    generator_seconds = time.perf_counter() - start

    rss_before = max_rss_mb()
    start = time.perf_counter()
    with tempfile.TemporaryFile() as spool:
        answers = Answers(args.records, spool)
        refused = 0
        for _number, line in numbered_lines(output_chunks(args.records, total)):
            if answers.add(line, round_number=0) is not None:
                refused += 1
        sink = CountingSink()
        counts = answers.write(((line, None) for line in range(1, args.records + 1)), sink)
    merge_seconds = time.perf_counter() - start
    json.dump(
        {
            "records": args.records,
            "output_bytes": generated,
            "result_bytes": sink.bytes,
            "refused": refused,
            "counts": counts.as_counts(),
            "generator_seconds": generator_seconds,
            "merge_seconds": merge_seconds,
            "rss_before_mb": rss_before,
            "peak_rss_mb": max_rss_mb(),
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
