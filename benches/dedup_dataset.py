#!/usr/bin/env python3
"""The FAISS side of benches/dedup_dataset.sh, and its input.

make OUT N: writes N rows (`video_id`, `video_emb` 1024-d float32 unit vectors, `status` ok):
    clustered vectors (1000 Gaussian clusters), one row in ten a near-duplicate (an earlier row
    plus noise) of an earlier row.
join IN THRESHOLD: the same self-join as `omega dedup --scope dataset` with FAISS IndexFlatIP:
    batches of 1024 rows in order; a row is a near-duplicate when its cosine to a kept row (in
    the index, or earlier in its batch) exceeds 1 - THRESHOLD; kept rows are added to the index.
    Prints {"seconds", "kept", "peak_rss_mb"} as JSON."""
import json, resource, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq

def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)

if sys.argv[1] == "make":
    out, n = sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((1000, 1024), dtype=np.float32)
    writer, made = None, []
    for start in range(0, n, 8192):
        k = min(8192, n - start)
        v = centres[rng.integers(0, 1000, k)] + 0.6 * rng.standard_normal((k, 1024), dtype=np.float32)
        v = unit(v)
        for i in range(k):
            if made and rng.random() < 0.1:
                source = made[rng.integers(0, len(made))]
                v[i] = unit((source + 0.01 * rng.standard_normal(1024, dtype=np.float32))[None])[0]
        made.extend(v[rng.random(k) < 0.05])  # sources of later near-duplicates
        t = pa.table({
            "video_id": [f"v{start + i:08d}" for i in range(k)],
            "video_emb": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), 1024),
            "status": ["ok"] * k,
        })
        writer = writer or pq.ParquetWriter(out, t.schema, compression="zstd")
        writer.write_table(t)
    writer.close()
else:
    import faiss
    src, limit = sys.argv[2], 1.0 - float(sys.argv[3])
    faiss.omp_set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
    t0 = time.perf_counter()
    index, kept = faiss.IndexFlatIP(1024), 0
    for batch in pq.ParquetFile(src).iter_batches(batch_size=1024, columns=["video_emb"]):
        v = unit(batch.column(0).flatten().to_numpy().reshape(-1, 1024).astype(np.float32))
        best = index.search(v, 1)[0][:, 0] if index.ntotal else np.full(len(v), -np.inf)
        within = v @ v.T
        keep = np.zeros(len(v), bool)
        for i in range(len(v)):
            earlier = within[i, :i][keep[:i]]
            top = max(best[i], earlier.max() if len(earlier) else -np.inf)
            keep[i] = not top > limit
        index.add(v[keep])
        kept += int(keep.sum())
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "kept": kept, "peak_rss_mb": rss}))
