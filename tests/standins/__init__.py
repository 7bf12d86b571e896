"""Local HTTP servers that speak the wire formats of services the tests cannot reach.

``OpenAIStandin`` stands in for OpenRouter and custom OpenAI-compatible endpoints,
``HFStandin`` for the Hugging Face Hub's file resolver. Both bind 127.0.0.1 on a free port and
run in a background thread; use them as context managers or call ``start()``/``stop()``.
"""

from tests.standins.hf_server import HFFile, HFStandin
from tests.standins.openai_server import (
    UNKNOWN_INPUT_ANSWER,
    WRONG_ANSWER,
    Failures,
    OpenAIStandin,
    StandinModel,
    answers_correctly,
    count_tokens,
    expected_cost,
    unit_hash,
)

__all__ = [
    "UNKNOWN_INPUT_ANSWER",
    "WRONG_ANSWER",
    "Failures",
    "HFFile",
    "HFStandin",
    "OpenAIStandin",
    "StandinModel",
    "answers_correctly",
    "count_tokens",
    "expected_cost",
    "unit_hash",
]
