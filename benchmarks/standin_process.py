"""The model stand-in in a process of its own, for the throughput benchmark.

    python -m benchmarks.standin_process SPEC_JSON PORT_FILE

In the benchmark's own process the stand-in competed with Podium for one interpreter lock:
at 128 calls in flight a client and a server sharing it managed about 100 calls a second,
whoever the client was. A real provider is another machine; here it is at least another
process. It serves OpenAI's wire format (``tests/standins/openai_server.py``) with keep-alive
connections, the dataset and models given in SPEC_JSON (``{"dataset": {input: expected},
"models": [{"name", "accuracy", "latency_ms"}]}``), and counts the model calls it serves:
``GET /_stats`` answers calls, peak and current in flight, time spent answering, first and
last call (monotonic seconds of this process, only differences matter); ``POST /_reset``
zeroes them. It writes its port to PORT_FILE once it listens.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from infra.processes import die_with_parent, stop_group


class Counting:
    """Model calls in flight at the stand-in, counted around its handler."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.now = self.peak = self.calls = 0
        self.first = self.last = self.busy = 0.0

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": self.calls,
                "peak": self.peak,
                "now": self.now,
                "busy": self.busy,
                "first": self.first,
                "last": self.last,
            }


def serve(spec_path: str, port_file: str) -> None:
    from tests.standins._http import StandinResponse
    from tests.standins.openai_server import OpenAIStandin, StandinModel

    spec = json.loads(Path(spec_path).read_text())
    llm = OpenAIStandin(dataset=spec["dataset"])
    llm.keep_alive = True
    for m in spec["models"]:
        llm.add_model(StandinModel(m["name"], accuracy=m["accuracy"], latency_ms=m["latency_ms"]))
    llm._record = lambda request: None  # type: ignore[method-assign]  # nothing reads them here
    count = Counting()
    answer = llm.handle

    def handle(request: Any) -> Any:
        if request.path == "/_stats":
            return StandinResponse.json(200, count.stats())
        if request.path == "/_reset":
            with count.lock:
                count.reset()
            return StandinResponse.json(200, {})
        began = time.perf_counter()
        with count.lock:
            count.now += 1
            count.calls += 1
            count.peak = max(count.peak, count.now)
            count.first = count.first or began
        try:
            return answer(request)
        finally:
            with count.lock:
                count.now -= 1
                count.last = time.perf_counter()
                count.busy += count.last - began

    llm.handle = handle  # type: ignore[method-assign]
    llm.start()
    Path(port_file).write_text(llm.url.rsplit(":", 1)[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    llm.stop()


class RemoteStandin:
    """The benchmark's handle on a stand-in process: start, base URLs, stats, stop."""

    def __init__(self, dataset: dict[str, str], models: list[dict[str, Any]]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="podium-standin-")
        spec = Path(self._dir.name) / "spec.json"
        spec.write_text(json.dumps({"dataset": dataset, "models": models}))
        self._port_file = Path(self._dir.name) / "port"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.standin_process", str(spec), str(self._port_file)],
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + 30
        while not self._port_file.exists() or not self._port_file.read_text():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stand-in process did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self._port_file.read_text().strip()}"
        self._http = httpx.Client(base_url=self.url, timeout=10)

    @property
    def pid(self) -> int:
        """The stand-in's process id, which is also its process group's."""
        return self._proc.pid

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def openrouter_base_url(self) -> str:
        return f"{self.url}/api/v1"

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._http.get("/_stats").json()
        return result

    def reset(self) -> None:
        self._http.post("/_reset")

    def stop(self) -> None:
        self._http.close()
        stop_group(self._proc)
        self._dir.cleanup()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
