#!/usr/bin/env python3
"""FAISS on the vectors and queries benches/index.rs wrote: IndexFlatIP (exact) and
IndexHNSWFlat (M 16, efConstruction 128, efSearch 128 and EFS) and IndexIVFFlat (as omega's ivf:
2·√N lists, trained on 48 vectors per list, nprobe PROBES) on L2-normalised vectors, the same
threads. Recall@1 against omega's exact answers. Usage: index_faiss.py DIR THREADS [EFS [PROBES]]
(comma-separated; EFS 64,96 and PROBES 4,8 by default; "-" measures that index not at all)"""
import json, sys, time
import faiss, numpy as np

d, threads = sys.argv[1], int(sys.argv[2])
def numbers(i, default):
    arg = sys.argv[i] if len(sys.argv) > i else default
    return [] if arg == "-" else [int(e) for e in arg.split(",")]
efs, probes = numbers(3, "64,96"), numbers(4, "4,8")
faiss.omp_set_num_threads(threads)
x = np.load(f"{d}/vectors.npy"); faiss.normalize_L2(x)
out = {}
flat = faiss.IndexFlatIP(1024); t = time.perf_counter(); flat.add(x); out["flat_build_s"] = time.perf_counter() - t
runs = [("flat", flat, lambda: None)]
if efs:
    hnsw = faiss.IndexHNSWFlat(1024, 16, faiss.METRIC_INNER_PRODUCT); hnsw.hnsw.efConstruction = 128
    t = time.perf_counter(); hnsw.add(x); out["hnsw_build_s"] = time.perf_counter() - t
    def ef(e): hnsw.hnsw.efSearch = e
    runs += [(f"hnsw{e}" if i else "hnsw", hnsw, lambda e=e: ef(e)) for i, e in enumerate([128] + efs)]
if probes:
    nlist = max(16, round(2 * len(x) ** 0.5))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(1024), 1024, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = x[np.random.default_rng(len(x)).choice(len(x), min(len(x), 48 * nlist), replace=False)]
    t = time.perf_counter(); ivf.train(sample); ivf.add(x); out["ivf_build_s"] = time.perf_counter() - t
    out["ivf_lists"] = nlist
    def probe(p): ivf.nprobe = p
    runs += [(f"ivf{p}", ivf, lambda p=p: probe(p)) for p in probes]
for name in ("near", "fresh"):
    q = np.load(f"{d}/{name}.npy"); faiss.normalize_L2(q)
    truth = [int(s[1:]) for s in json.load(open(f"{d}/exact_{name}_ids.json"))]
    for label, index, setup in runs:
        setup()
        t = time.perf_counter(); _, ids = index.search(q, 1); dt = time.perf_counter() - t
        out[f"{label}_{name}_qps"] = len(q) / dt
        out[f"{label}_{name}_recall"] = float(np.mean(ids[:, 0] == np.array(truth)))
out["flat_bytes_per_vector"] = 1024 * 4
print(json.dumps(out))
