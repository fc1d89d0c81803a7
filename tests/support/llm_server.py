"""A real LLM behind an OpenAI-compatible server for the tests: llama.cpp's server (PyPI
xllamacpp) with the GGUF given, on 127.0.0.1:PORT, requiring API_KEY: chat completions and
(mean-pooled) embeddings.

    python llm_server.py MODEL.gguf PORT API_KEY

One thread (two OpenMP threads on a busy 2-core machine are several times slower). Prints
{"ready": PORT} once /health answers, then serves until killed.
"""
import json
import sys
import time
import urllib.request

import xllamacpp as xlc

model, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
params = xlc.CommonParams()
params.model.path = model
params.port = port
params.hostnames = ["127.0.0.1"]
params.api_keys = [key]
params.n_ctx = 4096
params.n_parallel = 2
params.cpuparams.n_threads = 1
params.cpuparams_batch.n_threads = 1
params.warmup = False
params.embedding = True
params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
server = xlc.Server(params)

deadline = time.time() + 120
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            if r.status == 200:
                break
    except Exception:
        if time.time() > deadline:
            sys.exit("the LLM server did not become healthy in 120 s")
        time.sleep(0.2)
print(json.dumps({"ready": port}), flush=True)
while True:
    time.sleep(3600)
