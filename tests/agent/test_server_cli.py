"""`replica-agent serve`: flag and file errors end in one line with exit code 2; a real process serves."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
import torch

from replica_agent.__main__ import main


@pytest.mark.parametrize("content, words", [
    (None, "cannot be read"),
    ("{oops", "not valid JSON"),
    ('{"alice": 0}', "positive numbers"),
    ('["alice"]', "positive numbers"),
])
def test_bad_client_weights_file(tmp_path, capsys, content, words):
    path = tmp_path / "weights.json"
    if content is not None:
        path.write_text(content)
    assert main(["serve", "--client-weights", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("replica-agent: error: --client-weights") and words in err
    assert "\n" not in err and "Traceback" not in err


def test_bad_model_dir_and_config_values(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path)]) == 2
    assert "has no config.json" in capsys.readouterr().err
    assert main(["serve", "--max-num-seqs", "0", "--num-blocks", "8"]) == 2
    assert "max_num_seqs=0" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_requested_without_a_device(capsys):
    assert main(["serve", "--device", "cuda"]) == 2
    assert "--device cpu" in capsys.readouterr().err


@pytest.mark.slow
def test_real_process_serves_and_stops(tmp_path, unused_port):
    """`python -m replica_agent serve` on 127.0.0.1 with VTC and a weights file; /health gates readiness."""
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"alice": 2, "bob": 1}))
    cmd = [sys.executable, "-m", "replica_agent", "serve", "--port", str(unused_port), "--policy", "vtc",
           "--num-blocks", "64", "--threads", "1", "--client-weights", str(weights)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{unused_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the agent did not become healthy in 60 s"
            time.sleep(0.1)
        card = httpx.get(base + "/v1/models").json()["data"][0]
        assert card["random_weights"] is True
        r = httpx.post(base + "/v1/completions", timeout=30,
                       json={"prompt": "hi", "max_tokens": 4, "user": "alice", "ignore_eos": True})
        assert r.json()["usage"]["completion_tokens"] == 4
        text = httpx.get(base + "/metrics").text
        # VTC counter of a weight-2 client: (3 prompt tokens * w_p + 4 * w_q) / 2
        assert 'agent_client_counter{client="alice"} 5.5' in text
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert "serving tiny-random-llama-seed0 (random weights)" in proc.stderr.read()
