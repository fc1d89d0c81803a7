#!/usr/bin/env python3
"""Reads a dataset folder written by `omega push-hf` (or a mock Hub's storage) as users would,
and prints JSON facts the Rust tests compare with what they pushed.

Usage: check_dataset.py DIR [--load]
  always: every Parquet file with pyarrow (row groups and their sizes, ids, embedding sums);
  --load: also `datasets.load_dataset(DIR)` and with `data_files` taken from the card's YAML.
"""
import glob, json, os, sys

import pyarrow.parquet as pq

root = sys.argv[1]
# Hidden folders (the spool) are not part of the dataset, as for `datasets`.
files = sorted(p for p in glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True)
               if not any(part.startswith(".") for part in os.path.relpath(p, root).split(os.sep)))
out = {"files": [os.path.relpath(f, root) for f in files], "row_groups": [], "rows": {}}
for f in files:
    pf = pq.ParquetFile(f)
    meta = pf.metadata
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        out["row_groups"].append({"file": os.path.relpath(f, root), "rows": rg.num_rows,
                                  "bytes": rg.total_byte_size,
                                  "compression": rg.column(0).compression,
                                  "page_index": rg.column(6).has_offset_index})
    t = pf.read()
    for yid, emb, score in zip(t.column("youtube_id").to_pylist(),
                               t.column("video_embed").to_pylist(),
                               t.column("query_relevance_score").to_pylist()):
        out["rows"].setdefault(yid, []).append([round(sum(emb), 3), round(score, 9)])
    out.setdefault("schema", str(t.schema.field("video_embed").type))

if "--load" in sys.argv:
    import datasets, yaml
    ds = datasets.load_dataset(root, split="train")
    out["load_rows"] = ds.num_rows
    out["load_features"] = {k: repr(v) for k, v in ds.features.items()}
    out["load_ids"] = sorted(ds["youtube_id"])
    card = open(os.path.join(root, "README.md")).read().split("---")[1]
    meta = yaml.safe_load(card)
    pattern = meta["configs"][0]["data_files"][0]["path"]
    ds2 = datasets.load_dataset("parquet", data_files={"train": os.path.join(root, pattern)}, split="train")
    out["card_rows"] = meta["dataset_info"]["splits"][0]["num_examples"]
    out["data_files_rows"] = ds2.num_rows
    first = ds2[0]
    out["first_embed_len"] = len(first["video_embed"])
print(json.dumps(out))
