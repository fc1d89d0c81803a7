#!/usr/bin/env python3
"""Run the omega curator pipeline on a Ray cluster: one Ray task per (stage, shard).

The pipeline is pipelines/demo.sh split into parts:

    search -> clip -> embed -> validate -> dedup -> score      (N shards each, a barrier between)
    push-hf                                                     (once, over every scored part)

Each task runs the `omega` binary itself, `omega STAGE ... --shard I/N -o WORK/TABLE/`, which
writes `WORK/TABLE/part-IIIII-of-NNNNN.parquet` and then its completion marker
`part-IIIII-of-NNNNN.stats.json`. Everything that matters lives in those files, not in Ray:

  * a stage reads the whole folder of the stage before it (omega refuses it while a part has
    no marker), so the barrier between stages is only "wait for N tasks";
  * a task that fails (non-zero exit) or whose worker or node dies is retried by Ray
    (--retries), and a rerun of this script after a crash redoes only the parts without a
    marker, because omega skips a part whose marker exists.

Every node must see WORK, the media, the model and the binary at the same absolute paths (a
shared filesystem). The driver passes its OMEGA_*, ORT_* and RUST_LOG variables to every task,
so the nodes need no environment of their own; HF_TOKEN never leaves the driver, which runs
push-hf itself.
"""

import argparse
import collections
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import ray

# (stage, the table it writes): the folder WORK/<table>/ holds the stage's parts.
STAGES = (
    ("search", "candidates"),
    ("clip", "clips"),
    ("embed", "embeddings"),
    ("validate", "validated"),
    ("dedup", "deduped"),
    ("score", "scored"),
)

# Variables a task's omega needs from the driver (ONNX Runtime's library, the text model, the
# yt-dlp program, ...). Credentials are deliberately not forwarded.
FORWARDED_PREFIXES = ("OMEGA_", "ORT_")
FORWARDED_NAMES = ("RUST_LOG",)

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the omega child gets SIGKILL when its Ray worker dies.

    Without it a killed worker leaves omega running as an orphan, still writing the same part
    as the retry Ray starts elsewhere. (Ray starts its own children the same way.)
    """
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class ShardFailed(RuntimeError):
    """omega exited non-zero; raised inside the task so that Ray retries it."""


@ray.remote
def run_part(cmd, env, attempts_log):
    """Runs one omega command (a stage's part) on whichever node Ray picked.

    Returns where and how long it ran. Each attempt appends a line to `attempts_log` first, so
    the driver can count the retries that Ray hides from it.
    """
    node = ray.get_runtime_context().get_node_id()
    started = time.time()
    with open(attempts_log, "a", encoding="utf-8") as log:
        log.write(f"{node} {os.getpid()} {started:.3f}\n")
    proc = subprocess.run(
        cmd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        preexec_fn=_die_with_parent,
        check=False,
    )
    if proc.returncode != 0:
        raise ShardFailed(
            f"`{' '.join(cmd)}` exited with {proc.returncode} on node {node}:\n"
            f"{proc.stderr[-4000:]}"
        )
    return {"node": node, "started": started, "wall_s": time.time() - started}


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  # a laptop (starts a local Ray if none runs), the bundled media, 4 shards
  %(prog)s --work out/ray --shards 4 --media-dir .cache/media --query demo \\
      --model models/imagebind-tiny --to out/ray/dataset
  # a cluster started with `ray start`; publish on the Hub (HF_TOKEN on the driver only)
  %(prog)s --address HEAD:6379 --omega /shared/bin/omega --work /shared/run1 --shards 64 \\
      --urls /shared/urls-*.txt --model /shared/models/imagebind-huge --repo my-org/videos

Rerunning the same command after a failure redoes only the parts without a marker.""",
    )
    p.add_argument("--address", help="the Ray cluster (HOST:PORT, `auto`); default: RAY_ADDRESS "
                   "or the cluster `ray start` last started on this machine, else a new local one")
    p.add_argument("--omega", default="omega",
                   help="the omega binary, the same path on every node (default: omega on PATH)")
    p.add_argument("--work", required=True,
                   help="working folder on the shared filesystem: one sub-folder of parts per stage")
    p.add_argument("--shards", type=int, required=True, metavar="N", help="parts per stage")
    src = p.add_argument_group("input (one of)").add_mutually_exclusive_group()
    src.add_argument("--media-dir", metavar="DIR", help="every media file under DIR (search --source dir)")
    src.add_argument("--urls", nargs="+", metavar="FILE",
                     help="files of URLs, one a line (search --source urls); their URLs are sharded")
    src.add_argument("--topics", metavar="FILE", help="YouTube search of every topic of FILE (sharded by topic)")
    p.add_argument("--query", help="the YouTube query when no input is given; otherwise the "
                   "`query` recorded for every candidate, which relevance is scored against")
    p.add_argument("--n", type=int, help="videos per YouTube query (search --n)")
    p.add_argument("--model", required=True, metavar="DIR", help="the ImageBind model folder")
    p.add_argument("--check", default="all", choices=("all", "random", "none"),
                   help="which answers validate re-fetches and re-embeds: all (default, as "
                   "pipelines/demo.sh), random (as live validators) or none")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--to", metavar="DATASET_DIR", help="push-hf into a local dataset folder")
    dest.add_argument("--repo", metavar="ORG/NAME", help="push-hf to the Hugging Face Hub (HF_TOKEN)")
    p.add_argument("--retries", type=int, default=3,
                   help="retries of a failed part: omega's non-zero exit, a dead worker or node (default 3)")
    p.add_argument("--min-nodes", type=int, default=1,
                   help="wait (up to 120 s) until this many nodes have joined before starting")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON on stdout")
    args = p.parse_args(argv)
    if args.shards < 1:
        p.error("--shards must be at least 1")
    if not (args.media_dir or args.urls or args.topics or args.query):
        p.error("give --media-dir, --urls, --topics or --query")
    omega = shutil.which(args.omega)
    if omega is None:
        p.error(f"--omega {args.omega}: not an executable")
    args.omega = os.path.abspath(omega)
    # Tasks run elsewhere: every path they see must be absolute.
    for name in ("work", "media_dir", "topics", "model", "to"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    if args.urls:
        args.urls = [os.path.abspath(u) for u in args.urls]
    return args


def search_input(args):
    """search's arguments for the chosen input (several URL files become one list to shard)."""
    if args.media_dir:
        cmd = ["--source", "dir", args.media_dir]
    elif args.urls:
        merged = os.path.join(args.work, "urls.txt")
        with open(merged + ".tmp", "w", encoding="utf-8") as out:
            for path in args.urls:
                with open(path, encoding="utf-8") as f:
                    text = f.read().strip("\n")
                if text:
                    out.write(text + "\n")
        os.replace(merged + ".tmp", merged)
        cmd = ["--source", "urls", merged]
    elif args.topics:
        cmd = ["--topics", args.topics, "--pick", "all"]
    else:
        cmd = []
    if args.query:
        cmd += ["--query", args.query]
    if args.n:
        cmd += ["--n", str(args.n)]
    return cmd


def stage_command(args, stage, index, gpu):
    """The exact omega command of part `index` of `stage`."""
    work = args.work
    names = [s for s, _ in STAGES]
    cmd = [args.omega, stage]
    if stage == "search":
        cmd += args.search_input
    else:
        # the whole folder of the stage before; omega takes its own part of it by key
        cmd += ["-i", os.path.join(work, STAGES[names.index(stage) - 1][1])]
    if stage == "clip":
        cmd += ["--media-dir", os.path.join(work, "media")]
    if stage in ("embed", "validate", "score"):
        cmd += ["--model", args.model]
    if stage == "embed" and gpu:
        cmd += ["--device", "cuda"]
    if stage == "validate":
        # Its own folder per part: two answers holding the same video must not re-download it
        # into the same file at the same time.
        cmd += ["--check", args.check, "--media-dir", os.path.join(work, "recheck", f"part-{index:05}")]
    # dedup runs per answer without --index: inserting into an index is a global step.
    return cmd + ["--shard", f"{index}/{args.shards}", "-o", os.path.join(work, dict(STAGES)[stage]), "-q"]


def wait_for_nodes(count):
    deadline = time.time() + 120
    while True:
        alive = [n for n in ray.nodes() if n["Alive"]]
        if len(alive) >= count:
            return alive
        if time.time() > deadline:
            sys.exit(f"omega_ray: only {len(alive)} of {count} nodes joined within 120 s")
        time.sleep(0.5)


def run_stage(args, stage, env, gpu, log):
    """Submits the N parts of a stage and waits for all of them (the barrier)."""
    n = args.shards
    attempts_dir = os.path.join(args.work, "_ray", "attempts")
    os.makedirs(attempts_dir, exist_ok=True)
    resources = {"num_gpus": 1} if stage == "embed" and gpu else {"num_cpus": 1}
    started = time.time()
    pending = {}
    for i in range(n):
        attempts = os.path.join(attempts_dir, f"{stage}-{i:05}.log")
        if os.path.exists(attempts):
            os.remove(attempts)  # counts this run's attempts only
        ref = run_part.options(
            name=f"omega-{stage}-{i}",
            max_retries=args.retries,  # a dead worker or node
            retry_exceptions=True,  # ShardFailed: omega's non-zero exit
            # Parts are long and independent: use every node, rather than Ray's default of
            # filling the driver's node first.
            scheduling_strategy="SPREAD",
            **resources,
        ).remote(stage_command(args, stage, i, gpu), env, attempts)
        pending[ref] = (i, attempts, time.time())
    tasks = []
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        i, attempts, submitted = pending.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as e:
            log(f"[{stage}] part {i}/{n} failed after {args.retries} retries:\n{e}")
            sys.exit(1)
        with open(attempts, encoding="utf-8") as f:
            tries = sum(1 for _ in f)
        task = {
            "stage": stage, "shard": i, "node": result["node"], "attempts": tries,
            # submit -> start of the last attempt: Ray's scheduling and worker start-up (and
            # any failed attempts before it)
            "launch_s": round(result["started"] - submitted, 3),
            "wall_s": round(result["wall_s"], 3),  # omega's process, start to exit
        }
        tasks.append(task)
        log(f"[{stage}] {n - len(pending)}/{n} parts done: part {i} on node {result['node'][:8]} "
            f"in {task['wall_s']:.1f} s" + (f" after {tries} attempts" if tries > 1 else ""))
    return {"wall_s": round(time.time() - started, 3), "tasks": sorted(tasks, key=lambda t: t["shard"])}


def read_markers(args, stage):
    """The stage's part markers, in part order."""
    table = os.path.join(args.work, dict(STAGES)[stage])
    n = args.shards
    markers = []
    for i in range(n):
        with open(os.path.join(table, f"part-{i:05}-of-{n:05}.stats.json"), encoding="utf-8") as f:
            markers.append(json.load(f))
    return markers


def totals(markers):
    """A stage's rows by status and error class, bytes and omega's own seconds, over its parts."""
    status, error_class = collections.Counter(), collections.Counter()
    for m in markers:
        status.update(m.get("status", {}))
        error_class.update(m.get("error_class", {}))
    return {
        "rows": sum(m.get("rows", 0) for m in markers),
        "status": status,
        "error_class": error_class,
        "bytes": sum(m.get("bytes", 0) for m in markers),
        "work_s": round(sum(m.get("seconds", 0.0) for m in markers), 3),
    }


def push_hf(args):
    """The one global step: every scored part into one dataset, run by the driver itself."""
    cmd = [args.omega, "--json", "push-hf", "-i", os.path.join(args.work, "scored"),
           "--model", args.model]
    cmd += ["--to", args.to] if args.to else ["--repo", args.repo]
    started = time.time()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"omega_ray: `{' '.join(cmd)}` exited with {proc.returncode}:\n{proc.stderr[-4000:]}")
    return {"wall_s": round(time.time() - started, 3), "omega": json.loads(proc.stdout)}


def main(argv=None):
    args = parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    # Ray prints its notices (a task retried, a worker died) on sys.stdout: send them to stderr,
    # so that stdout holds only the --json summary.
    summary_out, sys.stdout = sys.stdout, sys.stderr
    os.makedirs(args.work, exist_ok=True)
    args.search_input = search_input(args)
    env = {k: v for k, v in os.environ.items()
           if k.startswith(FORWARDED_PREFIXES) or k in FORWARDED_NAMES}

    begun = time.time()
    ray.init(address=args.address, log_to_driver=False, logging_level="WARNING")
    nodes = wait_for_nodes(args.min_nodes)
    gpu = ray.cluster_resources().get("GPU", 0) > 0
    log(f"omega_ray: {len(nodes)} nodes, {ray.cluster_resources().get('CPU', 0):g} CPUs, "
        f"{'GPUs: embed on cuda' if gpu else 'no GPU'}; {args.shards} parts per stage")

    stages = {}
    for stage, _ in STAGES:
        run = run_stage(args, stage, env, gpu, log)
        markers = read_markers(args, stage)
        for task in run["tasks"]:
            task["work_s"] = round(markers[task["shard"]].get("seconds", 0.0), 3)  # omega's own
        stages[stage] = {**totals(markers), **run, "retries": sum(t["attempts"] - 1 for t in run["tasks"])}
    log("[push-hf] once over every scored part")
    pushed = push_hf(args)

    summary = {
        "shards": args.shards,
        "nodes": sorted(n["NodeID"] for n in nodes),
        "gpu": gpu,
        "stages": stages,
        "push_hf": pushed,
        "wall_s": round(time.time() - begun, 3),
    }
    if args.json:
        print(json.dumps(summary, indent=1), file=summary_out)
    else:
        log(f"{'stage':<9} {'rows':>6} {'ok':>5} {'failed':>6} {'skipped':>7} {'wall s':>7} "
            f"{'omega s':>7} {'retries':>7}  nodes")
        for stage, s in stages.items():
            used = collections.Counter(t["node"][:8] for t in s["tasks"])
            log(f"{stage:<9} {s['rows']:>6} {s['status'].get('ok', 0):>5} {s['status'].get('failed', 0):>6} "
                f"{s['status'].get('skipped', 0):>7} {s['wall_s']:>7.1f} {s['work_s']:>7.1f} "
                f"{s['retries']:>7}  {dict(used)}")
        log(f"push-hf: {pushed['omega'].get('rows_committed', 0)} rows committed to "
            f"{args.to or args.repo} in {pushed['wall_s']:.1f} s; total {summary['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
