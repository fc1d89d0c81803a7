"""The real bittensor SDK's weight processing as a test peer for omega's chain::weights.

Reads one JSON object on stdin: {"cases": [{"uids": [...], "weights": [...], "n": N,
"min_allowed_weights": M, "max_weight_limit": L, "exclude_quantile": Q}, ...]} (weights are
float32 values written exactly as float64 numbers; null stands for NaN, which JSON lacks). Answers one JSON object on stdout:
{"version_as_int": V, "version": "9.10.1", "results": [...]}, each result either
{"processed_uids", "processed_weights", "uids", "weights"} or {"error": "..."}. A case with
"emit_only": true goes through `convert_weights_and_uids_for_emit` alone. With a top-level
"time_repeats": R (the benchmark, benches/chain.sh), each result also holds "seconds": the best
of R runs of the case.

Each case goes through the SDK's default numpy path, exactly as OMEGA's validator calls it:
`process_weights_for_netuid(uids, weights, netuid, subtensor, metagraph)` with a stand-in
subtensor and metagraph offering only what that function reads (min_allowed_weights,
max_weight_limit, metagraph.n), then `convert_weights_and_uids_for_emit`.
"""

import json
import os
import sys

# The numpy path (the SDK's default); OMEGA's neurons set USE_TORCH=1, which torch would take.
os.environ.pop("USE_TORCH", None)
# The SDK logs warnings to stdout: keep the real stdout for the answer, send the rest to stderr.
answer = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.argv = sys.argv[:1]

import numpy as np  # noqa: E402
import bittensor  # noqa: E402,F401
from bittensor.core import settings  # noqa: E402
from bittensor.utils import weight_utils  # noqa: E402


class StandInSubtensor:
    """Only the two hyperparameter reads `process_weights_for_netuid` makes."""

    def __init__(self, min_allowed_weights, max_weight_limit):
        self._min_allowed_weights = min_allowed_weights
        self._max_weight_limit = max_weight_limit

    def min_allowed_weights(self, netuid):
        return self._min_allowed_weights

    def max_weight_limit(self, netuid):
        return self._max_weight_limit


class StandInMetagraph:
    def __init__(self, n):
        # The real numpy-mode Metagraph holds n as a 0-d int64 array.
        self.n = np.array(n, dtype=np.int64)


def emit_only(case):
    """`convert_weights_and_uids_for_emit` alone, on float64 weights."""
    uids, weights = weight_utils.convert_weights_and_uids_for_emit(
        np.array(case["uids"], dtype=np.int64), np.array(case["weights"], dtype=np.float64)
    )
    return {"uids": uids, "weights": weights}


def run(case):
    if case.get("emit_only"):
        return emit_only(case)
    uids = np.array(case["uids"], dtype=np.int64)
    weights = np.array(
        [np.nan if w is None else w for w in case["weights"]], dtype=np.float32
    )
    subtensor = StandInSubtensor(case["min_allowed_weights"], case["max_weight_limit"])
    processed_uids, processed = weight_utils.process_weights_for_netuid(
        uids,
        weights,
        netuid=24,
        subtensor=subtensor,
        metagraph=StandInMetagraph(case["n"]),
        exclude_quantile=case["exclude_quantile"],
    )
    result = {
        "processed_uids": [int(u) for u in processed_uids.tolist()],
        "processed_weights": [float(w) for w in processed.tolist()],
    }
    try:
        emit_uids, emit_weights = weight_utils.convert_weights_and_uids_for_emit(
            processed_uids, processed
        )
        result.update(uids=emit_uids, weights=emit_weights)
    except ValueError as e:
        result["emit_error"] = str(e)
    return result


def best_seconds(case, repeats):
    import time

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(case)
        best = min(best, time.perf_counter() - start)
    return best


def main():
    request = json.load(sys.stdin)
    repeats = request.get("time_repeats")
    results = []
    for case in request["cases"]:
        try:
            result = run(case)
            if repeats:
                result["seconds"] = best_seconds(case, repeats)
            results.append(result)
        except Exception as e:  # noqa: BLE001: reported to the test, which decides
            results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(
        {
            "version": settings.__version__,
            "version_as_int": settings.version_as_int,
            "results": results,
        },
        answer,
    )
    answer.close()


main()
