"""moto's random strings drawn at a lower cost, for as long as the local cloud runs
(`random_strings_in_one_call`).

moto draws its random strings a character at a time, each with a `choice` call on its
random source: every SQS receipt handle (185 lowercase letters, a new one each time a
message is received) and every string of `MotoRandom.get_random_string`, which gives
each answer its request id (52 letters and digits). Here each is drawn with one
`choices` call on the same source, from the same alphabet and of the same length, each
character uniformly: they are as random as moto's, and as repeatable once moto's
random source is seeded, though not the same strings for the same seed.
"""

from __future__ import annotations

import importlib
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def random_strings_in_one_call() -> Iterator[None]:
    sqs_models: Any = importlib.import_module("moto.sqs.models")
    sqs_utils: Any = importlib.import_module("moto.sqs.utils")
    moto_random = importlib.import_module("moto.moto_api._internal.moto_random").MotoRandom
    handle, random_string = (
        sqs_models.generate_receipt_handle,
        vars(moto_random)["get_random_string"],
    )

    def generate_receipt_handle() -> str:
        return "".join(sqs_utils.random.choices(string.ascii_lowercase, k=185))

    def get_random_string(
        self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False
    ) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        random_str = "".join(self.choices(pool, k=length))
        return random_str.lower() if lower_case else random_str

    sqs_models.generate_receipt_handle = generate_receipt_handle
    moto_random.get_random_string = get_random_string
    try:
        yield
    finally:
        sqs_models.generate_receipt_handle = handle
        moto_random.get_random_string = random_string
