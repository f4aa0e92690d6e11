"""JSONL validation throughput and peak memory of dropzone.workflows.bedrock.jsonl.plan_batch.

    python benchmarks/jsonl.py throughput [--mb 100] [--runs 3] [--profile]
    python benchmarks/jsonl.py rss --mb 1000

Spawned by run.py (section 3 of `make bench`); prints one JSON document on stdout.

The input is a Bedrock batch file for an Anthropic Claude model, InvokeModel: one record per
line, `{"recordId": "r0000120042", "modelInput": {"anthropic_version": ..., "max_tokens": ...,
"messages": [{"role": "user", "content": [{"type": "text", "text": "..."}]}]}}`, a few hundred
bytes each, written by json.dumps (ASCII, the odd non-ASCII character \\u-escaped). generate()
makes it lazily, as S3 streams it: 1 MiB chunks cut anywhere, so lines straddle chunks. It
holds a few template blocks of records (a few MB) and only stamps each block's number into
its record ids, so the same bytes can be replayed and a 1 GB stream costs no more memory
than a 100 MB one.

throughput: in this one process, alternately (A B C, then C B A, ...):
  ours       plan_batch(chunks, model_id=MODEL_ID, invocation_type="InvokeModel",
             limits=BatchLimits(max_records_per_file=50_000, max_records_per_job=50_000))
  naive      naive_validate(chunks): split lines, json.loads each, an object with an object
             'modelInput' and a string 'recordId', record ids unique (one set)
  generator  the chunks alone, consumed: what both sides also pay to get their input
rss: plan_batch over a stream of --mb MB in a fresh interpreter; its peak RSS before and after.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any

from memory import peak_rss_bytes  # benchmarks/memory.py: this script runs from its folder

from dropzone.workflows.bedrock.jsonl import plan_batch
from dropzone.workflows.bedrock.plan import BatchLimits

MB = 1_000_000
CHUNK = 1 << 20  # dropzone.adapters.s3.S3.iter_chunks
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
INVOCATION_TYPE = "InvokeModel"
LIMITS = BatchLimits(max_records_per_file=50_000, max_records_per_job=50_000)
TEMPLATES = 8
RECORDS_PER_TEMPLATE = 1024
_SLOT = b"@@@@@@"  # the block number, in every record id of a template

# Customer-service English: sentences with capitals, "I", numbers, the odd non-ASCII
# character (json.dumps writes it as a \u escape) and line breaks.
_WORDS = (  # noqa: SIM905 - a word list is easier to read as text
    "I I I I we you it they the the the a a an of of to to and and in is is it was for on "
    "with as at by this that from be are not have has had but or if so very really just "
    "also still only more most less much many some any all no one two first last new old "
    "good great bad better best worse small large big little long short fast slow easy "
    "hard late happy product order delivery package box item price quality service "
    "support customer team staff store website app account refund return exchange "
    "warranty size color battery screen charger cable case manual setup install update "
    "feature arrived shipped ordered bought used tried returned received opened broke "
    "stopped worked works working recommend expected disappointed satisfied impressed "
    "again never always sometimes usually after before during week month day hour 2 3 "
    "10 30 $25 $199 please thanks would could should will can may might must need want "
    "like love hate think feel looks seems because although however overall honestly "
    "Amazon Alexa Kindle Prime Monday Friday November London New York caf\u00e9 "
    "\u2019s don\u2019t \u2014"
).split()
_TASKS = (
    "Summarize the following customer review in one sentence.\n\n{}",
    "Classify the sentiment of this review as positive, negative or mixed. Review: {}",
    "Extract the product issues mentioned below as a bulleted list.\n\nText: {}",
    "Translate the following message into French, keeping the tone: {}",
    "Answer briefly: what does the customer want? Message:\n{}",
)


def _capitalized(words: list[str]) -> str:
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _sentences(rng: random.Random, words: int) -> str:
    text, sentence = [], []
    for _ in range(words):
        sentence.append(rng.choice(_WORDS))
        if len(sentence) >= rng.randint(6, 16):
            text.append(_capitalized(sentence) + rng.choice((".", ".", "!", "?")))
            sentence = []
    if sentence:
        text.append(_capitalized(sentence) + ".")
    return rng.choice((" ", " ", "\n")).join(text)


@cache
def _templates() -> tuple[bytes, ...]:
    templates = []
    for seed in range(TEMPLATES):
        rng = random.Random(seed)
        lines = []
        for index in range(RECORDS_PER_TEMPLATE):
            words = _sentences(rng, rng.randint(25, 75))
            model_input: dict[str, Any] = {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": rng.choice((256, 512, 1024)),
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": rng.choice(_TASKS).format(words)}],
                    }
                ],
            }
            if rng.random() < 0.2:
                model_input["system"] = "You are a concise assistant for a support team."
                model_input["temperature"] = 0.2
            record_id = f"r{_SLOT.decode()}{index:04d}"
            lines.append(json.dumps({"recordId": record_id, "modelInput": model_input}))
        templates.append(("\n".join(lines) + "\n").encode())
    return tuple(templates)


def generate(total: int, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """At least `total` bytes of whole records, the same every time, in `chunk_size` chunks
    (the last one shorter). Record ids are unique across the whole stream."""
    templates = _templates()
    buffer = bytearray()
    made, block = 0, 0
    while made < total:
        data = templates[block % len(templates)].replace(_SLOT, b"%06d" % block)
        block += 1
        made += len(data)
        buffer += data
        while len(buffer) >= chunk_size:
            with memoryview(buffer) as view:
                chunk = bytes(view[:chunk_size])
            del buffer[:chunk_size]
            yield chunk
    if buffer:
        yield bytes(buffer)


def naive_validate(chunks: Iterable[bytes]) -> int:
    """The obvious validator: split lines, json.loads each, check the shape, ids unique.

    Stops at the first bad line (ValueError); returns how many records it read."""
    seen: set[str] = set()
    tail = b""
    for chunk in chunks:
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        for line in lines:
            if line.strip():
                _naive_record(line, seen)
    if tail.strip():
        _naive_record(tail, seen)
    return len(seen)


def _naive_record(line: bytes, seen: set[str]) -> None:
    record = json.loads(line)
    if not isinstance(record, dict) or not isinstance(record.get("modelInput"), dict):
        raise ValueError("not an object with an object 'modelInput'")
    record_id = record.get("recordId")
    if not isinstance(record_id, str):
        raise ValueError("'recordId' is not a string")
    if record_id in seen:
        raise ValueError(f"'recordId' {record_id!r} repeats")
    seen.add(record_id)


def ours(chunks: Iterable[bytes]) -> int:
    plan = plan_batch(chunks, model_id=MODEL_ID, invocation_type=INVOCATION_TYPE, limits=LIMITS)
    return plan.records


def consume(chunks: Iterable[bytes]) -> int:
    return sum(1 for _ in chunks)


def stream_facts(total: int) -> dict[str, int]:
    size = lines = 0
    for chunk in generate(total):
        size += len(chunk)
        lines += chunk.count(b"\n")
    return {"bytes": size, "records": lines}


def throughput(total: int, runs: int) -> dict[str, Any]:
    facts = stream_facts(total)
    sides: dict[str, Callable[[Iterable[bytes]], int]] = {
        "ours": ours,
        "naive": naive_validate,
        "generator": consume,
    }
    for function in sides.values():  # untimed: build the validator, warm the caches
        function(generate(min(total, 10 * MB)))
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    counts: dict[str, int] = {}
    for run in range(runs):
        order = list(sides) if run % 2 == 0 else list(reversed(sides))
        for name in order:
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            counts[name] = sides[name](generate(total))
            samples[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    if counts["ours"] != facts["records"] or counts["naive"] != facts["records"]:
        raise RuntimeError(f"the validators counted {counts}, the stream has {facts}")
    return {
        **facts,
        "runs": runs,
        "seconds": {name: [wall for wall, _ in values] for name, values in samples.items()},
        "cpu_seconds": {name: [cpu for _, cpu in values] for name, values in samples.items()},
        "chunk_bytes": CHUNK,
        "parts": -(-facts["records"] // LIMITS.part_records),
    }


def profile(total: int, top: int = 15) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    ours(generate(total))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def peak_rss(total: int) -> dict[str, Any]:
    _templates()
    before = peak_rss_bytes()
    started = time.perf_counter()
    plan = plan_batch(
        generate(total), model_id=MODEL_ID, invocation_type=INVOCATION_TYPE, limits=LIMITS
    )
    seconds = time.perf_counter() - started
    after = peak_rss_bytes()
    return {
        "bytes": plan.bytes,
        "records": plan.records,
        "parts": len(plan.parts),
        "seconds": seconds,
        "rss_before": before,
        "rss_peak": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("throughput", "rss"))
    parser.add_argument("--mb", type=int, default=100, help="size of the stream, MB (100)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (3)")
    parser.add_argument("--profile", action="store_true", help="cProfile one run of ours")
    args = parser.parse_args()
    total = args.mb * MB
    if args.mode == "rss":
        report = peak_rss(total)
    else:
        report = throughput(total, args.runs)
        report["median_seconds"] = {
            name: statistics.median(values) for name, values in report["seconds"].items()
        }
        if args.profile:
            report["profile"] = profile(total)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
