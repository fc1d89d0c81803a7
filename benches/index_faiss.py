#!/usr/bin/env python3
"""FAISS on the vectors and queries benches/index.rs wrote: IndexFlatIP (exact) and
IndexHNSWFlat (M 16, efConstruction 128, efSearch 128 and EFS) on L2-normalised vectors, the same
threads. Recall@1 against omega's exact answers. Usage: index_faiss.py DIR THREADS [EFS]
(EFS: other efSearch values, comma-separated; 64,96 by default)"""
import json, sys, time
import faiss, numpy as np

d, threads = sys.argv[1], int(sys.argv[2])
efs = [int(e) for e in (sys.argv[3] if len(sys.argv) > 3 else "64,96").split(",")]
faiss.omp_set_num_threads(threads)
x = np.load(f"{d}/vectors.npy"); faiss.normalize_L2(x)
out = {}
flat = faiss.IndexFlatIP(1024); t = time.perf_counter(); flat.add(x); out["flat_build_s"] = time.perf_counter() - t
hnsw = faiss.IndexHNSWFlat(1024, 16, faiss.METRIC_INNER_PRODUCT); hnsw.hnsw.efConstruction = 128
t = time.perf_counter(); hnsw.add(x); out["hnsw_build_s"] = time.perf_counter() - t
for name in ("near", "fresh"):
    q = np.load(f"{d}/{name}.npy"); faiss.normalize_L2(q)
    truth = [int(s[1:]) for s in json.load(open(f"{d}/exact_{name}_ids.json"))]
    for label, index, ef in [("flat", flat, 0), ("hnsw", hnsw, 128)] + [(f"hnsw{e}", hnsw, e) for e in efs]:
        if ef: index.hnsw.efSearch = ef
        t = time.perf_counter(); _, ids = index.search(q, 1); dt = time.perf_counter() - t
        out[f"{label}_{name}_qps"] = len(q) / dt
        out[f"{label}_{name}_recall"] = float(np.mean(ids[:, 0] == np.array(truth)))
out["flat_bytes_per_vector"] = 1024 * 4
print(json.dumps(out))
