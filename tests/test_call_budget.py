"""The per-provider call budget (shared/providers/budget.py): one limit for every task of a
process, filled from one first-come queue."""

from __future__ import annotations

import threading
import time

import pytest

from shared.providers.budget import CallBudget, provider_key


class Probe:
    """Counts calls in flight; each call holds its slot for ``hold`` seconds."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.order: list[tuple[str, int]] = []

    def __call__(self, item: tuple[str, int]) -> tuple[str, int]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.order.append(item)
        time.sleep(self.hold)
        with self.lock:
            self.now -= 1
        return item


def test_tasks_share_one_limit_per_provider_and_get_their_results_in_order():
    budget = CallBudget(4)
    probe = Probe(0.05)
    results: dict[str, list[tuple[str, int]]] = {}

    def task(name: str, n: int) -> None:
        results[name] = budget.map("http://a", probe, [(name, i) for i in range(n)])

    threads = [threading.Thread(target=task, args=(f"t{k}", 6)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    budget.shutdown()
    # Three tasks of six calls: 18 wanted at once, 4 in flight, never more, never fewer
    # while calls are waiting.
    assert probe.peak == 4
    assert {k: v for k, v in results.items()} == {
        f"t{k}": [(f"t{k}", i) for i in range(6)] for k in range(3)
    }


def test_each_provider_has_its_own_budget():
    budget = CallBudget(2)
    a, b = Probe(0.1), Probe(0.1)
    threads = [
        threading.Thread(target=budget.map, args=("http://a", a, [("a", i) for i in range(4)])),
        threading.Thread(target=budget.map, args=("http://b", b, [("b", i) for i in range(4)])),
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    budget.shutdown()
    assert (a.peak, b.peak) == (2, 2)
    # Two waves each, side by side (not four waves one after the other).
    assert elapsed < 0.35


def test_a_failing_call_surfaces_after_the_others_have_finished():
    budget = CallBudget(2)
    done: list[int] = []

    def call(i: int) -> int:
        if i == 0:
            raise RuntimeError("boom")
        time.sleep(0.05)
        done.append(i)
        return i

    with pytest.raises(RuntimeError, match="boom"):
        budget.map("http://a", call, range(4))
    assert sorted(done) == [1, 2, 3]
    budget.shutdown()


def test_the_budget_key_is_the_host_not_the_path():
    assert provider_key("https://openrouter.ai/api/v1/chat/completions") == "https://openrouter.ai"
    assert provider_key("http://127.0.0.1:8080/v1") != provider_key("http://127.0.0.1:8081/v1")
    assert provider_key("HTTPS://Example.COM/x") == "https://example.com"
    with pytest.raises(ValueError, match="at least one call"):
        CallBudget(0)


def test_each_thread_has_its_own_pool_and_an_ended_threads_pool_is_released():
    import gc

    from shared.providers.clients import ModelHttp

    http = ModelHttp()
    seen: list[int] = []

    def use() -> None:
        seen.append(id(http.pool()))
        assert http.pool() is http.pool()  # the same one within a thread

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
        t.join()
    gc.collect()
    assert len(seen) == 4 and len(http._all) == 0
    main = http.pool()
    assert len(http._all) == 1
    http.close()
    assert main.connections == []
