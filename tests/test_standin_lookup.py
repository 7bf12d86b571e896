"""The stand-in finds a prompt's input by its pieces, in time that does not grow with the
dataset; it must find exactly what the plain definition (``_contains_whole``) finds."""

from __future__ import annotations

import random

from tests.standins.openai_server import OpenAIStandin, _contains_whole

ALPHABET = "ab1 Q9-x_.é"


def brute_force(dataset: dict[str, str], text: str) -> str | None:
    found = [k for k in dataset if k and _contains_whole(text, k)]
    return max(found, key=len) if found else None


def test_the_piece_lookup_agrees_with_the_definition():
    rng = random.Random(7)
    for _ in range(300):
        standin = OpenAIStandin()
        for _ in range(rng.randint(1, 8)):
            key = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))
            standin.dataset[key] = "x"
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
        found = standin.find_input(text)
        expected = brute_force(standin.dataset, text)
        # Ties in length may pick either; both must be whole matches of that length.
        assert (found is None) == (expected is None), (text, dict(standin.dataset))
        if found is not None and expected is not None:
            assert len(found) == len(expected) and _contains_whole(text, found)


def test_q9_is_not_found_in_q99_and_the_longest_input_wins():
    standin = OpenAIStandin(dataset={"Q9": "a", "Q99": "b", "Q99 and more": "c"})
    assert standin.find_input("Question: Q99?") == "Q99"
    assert standin.find_input("Question: Q99 and more!") == "Q99 and more"
    assert standin.find_input("Question: Q999") is None
