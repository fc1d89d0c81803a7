#!/usr/bin/env python3
"""The pyarrow side of benches/push_hf.sh.

make IN N: writes a `scored`-like table of N rows (three 1024-d float32 embeddings per row).
write IN OUT: reads IN and writes the 13 Hub columns with pyarrow (zstd, row groups of at most
~100 MB, page index), as the reference; prints {"seconds", "rows", "bytes"} as JSON."""
import json, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq

def emb(rng, n):
    flat = rng.standard_normal(n * 1024, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat), 1024)

if sys.argv[1] == "make":
    path, n = sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(0)
    writer = None
    for start in range(0, n, 8192):
        k = min(8192, n - start)
        t = pa.table({
            "video_id": [f"yt{start + i:09d}" for i in range(k)],
            "description": [f"clip {start + i}: a cat plays with a ball of wool in a sunny room" for i in range(k)],
            "views": pa.array(np.arange(start, start + k), pa.int64()),
            "start_time": pa.array(np.full(k, 10), pa.int64()),
            "end_time": pa.array(np.full(k, 40), pa.int64()),
            "query": ["cats"] * k,
            "video_emb": emb(rng, k), "audio_emb": emb(rng, k), "description_emb": emb(rng, k),
            "description_relevance": rng.random(k), "query_relevance": rng.random(k),
            "status": ["ok"] * k,
        })
        writer = writer or pq.ParquetWriter(path, t.schema, compression="zstd")
        writer.write_table(t)
    writer.close()
else:
    src, out = sys.argv[2], sys.argv[3]
    t0 = time.perf_counter()
    t = pq.read_table(src)
    n = t.num_rows
    hub = pa.table({
        "video_id": [f"{i:032x}" for i in range(n)],
        "youtube_id": t["video_id"], "description": t["description"], "views": t["views"],
        "start_time": t["start_time"], "end_time": t["end_time"],
        "video_embed": t["video_emb"], "audio_embed": t["audio_emb"],
        "description_embed": t["description_emb"],
        "description_relevance_score": t["description_relevance"],
        "query_relevance_score": t["query_relevance"], "query": t["query"],
        "submitted_at": pa.array(np.full(n, int(time.time())), pa.int64()),
    })
    rows_per_group = max(1, int(90e6 // (hub.nbytes / n)))
    files, written = 0, 0
    for start in range(0, n, 8192):  # the same 8192-row shard files as omega's default
        part = hub.slice(start, 8192)
        path = f"{out}/train-{files:05d}.parquet"
        pq.write_table(part, path, compression="zstd", compression_level=3,
                       row_group_size=rows_per_group, write_page_index=True)
        files += 1
        written += part.num_rows
    print(json.dumps({"seconds": time.perf_counter() - t0, "rows": written}))
