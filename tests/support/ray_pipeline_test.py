#!/usr/bin/env python3
"""End-to-end test of pipelines/ray/omega_ray.py on a real two-node Ray cluster on this host.

    $OMEGA_RAY_PYTHON tests/support/ray_pipeline_test.py --omega BIN --model DIR --media DIR --work DIR

Exit 0 = passed; otherwise the first failed check is printed and the exit code is 1. It never
skips: a missing prerequisite (root, `ip`, Ray, the media) is a failure.

What it does:
  1. the demo stages (pipelines/demo.sh) once in one process, without --shard: the reference;
  2. a Ray head and a second Ray node (own ports, own temp dir) inside a new network namespace
     that has only `lo`: Ray leaves loopback for the host's address otherwise, even with
     --node-ip-address=127.0.0.1. The driver runs inside it too;
  3. the driver with N parts per stage, while this script SIGKILLs one running `omega embed`
     (a task's child: omega's non-zero exit, retried through retry_exceptions) and the Ray
     worker running one `omega validate` (a dead worker, retried through max_retries; its
     omega must die with it);
  4. checks: tasks ran on both nodes; each stage has its N parts and markers; the two kills
     were retried; each stage's table holds the reference's rows, each exactly once; the
     pushed dataset holds every accepted row exactly once, the same as the reference's.

Whatever happens, it stops what it started: SIGKILL to the Ray nodes' process groups and to every
process left in the namespace, which it then deletes with the Ray temp dir. If this script is
itself SIGKILLed, the Ray nodes die with it (PR_SET_PDEATHSIG) and the next run removes what is
left (a namespace, Ray's agents).
"""

import argparse
import atexit
import collections
import ctypes
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "pipelines", "ray", "omega_ray.py")
# Small files of the bundled media (scripts/media.tsv) covering ok, failed (no audio stream)
# and skipped (too short) rows.
MEDIA = ("bikes.mp4", "oa4_launch.webm", "bigbuckbunny.mp4", "realshort.mp4")
QUERY = "ray test: real media from the package registries"
# (stage, table) as the driver runs them.
STAGES = (("search", "candidates"), ("clip", "clips"), ("embed", "embeddings"),
          ("validate", "validated"), ("dedup", "deduped"), ("score", "scored"))
NS_PREFIX = "omegaray-"  # network namespace and Ray temp dir: NS_PREFIX + this test's pid


class Failed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


T0 = time.time()


def say(msg):
    print(f"[{time.time() - T0:6.1f} s] {msg}", flush=True)


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failed(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc.stdout


def single_process(omega, model, media, out):
    """The reference: pipelines/demo.sh's stages in one process each, one after the other."""
    t = lambda name: os.path.join(out, name + ".parquet")  # noqa: E731
    steps = [
        ["search", "--source", "dir", media, "--query", QUERY, "-o", t("candidates")],
        ["clip", "-i", t("candidates"), "--media-dir", os.path.join(out, "media"), "-o", t("clips")],
        ["embed", "-i", t("clips"), "--model", model, "-o", t("embeddings")],
        ["validate", "-i", t("embeddings"), "--model", model, "--check", "all",
         "--media-dir", os.path.join(out, "recheck"), "-o", t("validated")],
        ["dedup", "-i", t("validated"), "-o", t("deduped")],
        ["score", "-i", t("deduped"), "--model", model, "-o", t("scored")],
        ["push-hf", "-i", t("scored"), "--to", os.path.join(out, "dataset"), "--model", model],
    ]
    os.makedirs(out, exist_ok=True)
    for step in steps:
        run([omega, "-q", *step])


def rows(paths, columns=("video_id", "status")):
    """(video_id, status) of every row of these Parquet files, sorted."""
    out = []
    for path in paths:
        table = pq.read_table(path, columns=list(columns))
        out += list(zip(*(table.column(c).to_pylist() for c in columns)))
    return sorted(out, key=repr)


def dataset_ids(dataset):
    """The pipeline's video ids in a pushed dataset, sorted: the dataset's own `video_id` is a
    fresh UUID per row, the pipeline's id is its `youtube_id` column (OMEGA's schema)."""
    files = [f for f in glob.glob(os.path.join(dataset, "**", "*.parquet"), recursive=True)
             if "/.omega-spool/" not in f]
    check(files, f"push-hf wrote no Parquet file under {dataset}")
    return sorted(v for (v,) in rows(files, ("youtube_id",)))


def die_with_parent():
    """preexec_fn: PR_SET_PDEATHSIG, SIGKILL (it survives the exec of `ip netns exec`)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


class Cluster:
    """Two Ray nodes inside a network namespace of their own; stop() undoes everything."""

    def __init__(self, env):
        self.name = f"{NS_PREFIX}{os.getpid()}"
        self.temp = f"/tmp/{self.name}"  # short: Ray's Unix socket paths must stay <= 107 bytes
        self.env = env
        self.procs = []
        self.ray = os.path.join(os.path.dirname(sys.executable), "ray")
        check(os.access(self.ray, os.X_OK), f"no `ray` next to {sys.executable}: run this with $OMEGA_RAY_PYTHON")

    def exec(self, *cmd):
        return ["ip", "netns", "exec", self.name, *cmd]

    def start(self):
        run(["ip", "netns", "add", self.name])
        run(self.exec("ip", "link", "set", "lo", "up"))
        common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats",
                  "--object-store-memory=100000000"]
        head = self._start_node("head", ["--head", "--port=6379", "--include-dashboard=false", *common])
        # The second node: ports of its own where the head's are fixed (the dashboard agent's, the
        # workers' range); the others are picked free by the kernel. Started at once: it waits
        # for the head's GCS by itself.
        worker = self._start_node("worker", ["--address=127.0.0.1:6379", "--dashboard-agent-listen-port=52366",
                                             "--min-worker-port=20000", "--max-worker-port=29999", *common])
        for role, proc, log_path in (head, worker):
            deadline = time.time() + 90
            while True:
                with open(log_path, errors="replace") as f:
                    text = f.read()
                if "Ray runtime started" in text:
                    break
                check(proc.poll() is None and time.time() < deadline,
                      f"the Ray {role} node did not start (exit {proc.poll()}):\n{text[-3000:]}")
                time.sleep(0.2)

    def _start_node(self, role, args):
        temp = os.path.join(self.temp, role)
        os.makedirs(temp, exist_ok=True)
        log_path = os.path.join(self.temp, f"{role}.log")
        with open(log_path, "w") as log:
            # A session (and process group) of its own, so that stop() can signal it all at once;
            # and SIGKILL when this test dies, however it dies: `ray start --block` then takes its
            # node's processes with it (Ray's own fate sharing).
            proc = subprocess.Popen(self.exec(self.ray, "start", f"--temp-dir={temp}", *args),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=self.env, start_new_session=True, preexec_fn=die_with_parent)
        self.procs.append(proc)
        return role, proc, log_path

    def stop(self):
        # SIGKILL, not a graceful `ray stop`: nothing of this cluster needs to outlive the test,
        # and Ray's graceful shutdown takes about 20 s.
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        self.procs = []
        remove_namespace(self.name)


def remove_namespace(name):
    """SIGKILLs every process still inside namespace `name`, deletes it and its Ray temp dir."""
    if os.path.exists(f"/run/netns/{name}"):
        for _ in range(50):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    shutil.rmtree(f"/tmp/{name}", ignore_errors=True)


def remove_stale_namespaces():
    """Namespaces of earlier runs of this test that were killed before their clean-up."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    for name in names:
        pid = name[len(NS_PREFIX):]
        if name.startswith(NS_PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            say(f"removing {name}, left by an earlier run")
            remove_namespace(name)


def argv_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


class Killer(threading.Thread):
    """SIGKILLs, once each, a running `omega embed` part and the Ray worker of an `omega validate`
    part, among the omega processes of this run (its binary, writing under its work dir)."""

    def __init__(self, omega, work):
        super().__init__(daemon=True)
        self.omega, self.work = omega, work
        self.todo = {"embed": self.kill_omega, "validate": self.kill_worker}
        self.done = {}  # stage -> what was killed
        self.error = None  # a Failed check, re-raised by the main thread
        self.stop = threading.Event()

    def run(self):
        try:
            self.hunt()
        except Failed as e:
            self.error = e

    def hunt(self):
        while self.todo and not self.stop.is_set():
            for pid in filter(str.isdigit, os.listdir("/proc")):
                argv = argv_of(pid)
                if (len(argv) > 2 and argv[0] == self.omega and argv[1] in self.todo and "--shard" in argv
                        and any(a.startswith(self.work) for a in argv)):
                    # Let it get into its work first; if it is already gone, wait for another.
                    time.sleep(0.05)
                    if argv_of(pid) == argv:
                        stage = argv[1]
                        self.done[stage] = self.todo.pop(stage)(int(pid), argv)
            time.sleep(0.02)

    def kill_omega(self, pid, argv):
        os.kill(pid, signal.SIGKILL)
        return f"omega pid {pid}: {' '.join(argv[1:])}"

    def kill_worker(self, pid, argv):
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        worker = " ".join(argv_of(ppid))
        check(worker.startswith("ray::"), f"the parent of omega {pid} is not a Ray worker: {worker!r}")
        os.kill(ppid, signal.SIGKILL)
        # The driver starts omega with PR_SET_PDEATHSIG: it must not outlive its worker.
        deadline = time.time() + 5
        while os.path.exists(f"/proc/{pid}") and argv_of(pid) and time.time() < deadline:
            time.sleep(0.05)
        check(not argv_of(pid), f"omega {pid} outlived its killed Ray worker {ppid}")
        return f"Ray worker pid {ppid} ({worker}) of omega pid {pid}: {' '.join(argv[1:])}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--omega", required=True, help="the omega binary")
    p.add_argument("--model", required=True, help="the ImageBind model folder (models/imagebind-tiny)")
    p.add_argument("--media", required=True, help="the bundled media folder ($OMEGA_MEDIA_DIR)")
    p.add_argument("--work", required=True, help="a scratch folder (created; its content is kept)")
    p.add_argument("--shards", type=int, default=2, help="parts per stage (default 2)")
    args = p.parse_args()
    omega, model, work = (os.path.abspath(x) for x in (args.omega, args.model, args.work))
    n = args.shards

    check(os.geteuid() == 0, "must run as root: it creates a network namespace (ip netns)")
    check(shutil.which("ip"), "`ip` (iproute2) is not installed")
    check(os.access(omega, os.X_OK), f"--omega {omega} is not executable")
    check("--shard" in run([omega, "clip", "--help"]), f"{omega} has no --shard")
    media = os.path.join(work, "media-in")
    os.makedirs(media, exist_ok=True)
    for name in MEDIA:
        src = os.path.join(os.path.abspath(args.media), name)
        check(os.path.isfile(src), f"{src} is missing: run scripts/setup.sh")
        if not os.path.lexists(os.path.join(media, name)):
            os.symlink(src, os.path.join(media, name))

    single, out = os.path.join(work, "single"), os.path.join(work, "ray")
    for folder in (single, out):  # a rerun in the same --work starts afresh
        shutil.rmtree(folder, ignore_errors=True)

    say(f"single-process reference run of the demo stages on {len(MEDIA)} files")
    t = time.time()
    single_process(omega, model, media, single)
    single_s = time.time() - t
    say(f"  {single_s:.1f} s")

    remove_stale_namespaces()
    # RAY_AUTH_MODE explicit: otherwise Ray 2.60 turns token authentication on when it finds
    # a ~/.ray/auth_token (which a local `ray.init()` leaves), and a node or the driver that did
    # not read the same file is refused. The namespace already keeps everyone else out.
    cluster = Cluster(dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled"))
    atexit.register(cluster.stop)
    # SIGTERM (a test harness's timeout) and SIGINT unwind through the finally below.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: sys.exit(f"stopped by signal {s}"))
    try:
        t = time.time()
        cluster.start()
        say(f"two Ray nodes up in namespace {cluster.name} in {time.time() - t:.1f} s")

        driver = cluster.exec(sys.executable, DRIVER, "--address=127.0.0.1:6379", "--min-nodes=2",
                              "--omega", omega, "--work", out, "--shards", str(n), "--media-dir", media,
                              "--query", QUERY, "--model", model, "--to", os.path.join(out, "dataset"),
                              "--retries=2", "--json")
        killer = Killer(omega, out)
        killer.start()
        t = time.time()
        proc = subprocess.run(driver, capture_output=True, text=True, env=cluster.env)
        killer.stop.set()
        killer.join()
        ray_s = time.time() - t
        sys.stderr.write(proc.stderr)
        check(proc.returncode == 0, f"the driver exited with {proc.returncode}")
        try:
            summary = json.loads(proc.stdout)
        except ValueError:
            raise Failed(f"the driver's --json output is not JSON:\n{proc.stdout[:3000]}") from None
        say(f"driver done in {ray_s:.1f} s")
    finally:
        t = time.time()
        cluster.stop()
        say(f"cluster stopped and namespace removed in {time.time() - t:.1f} s")

    if killer.error:
        raise killer.error
    for stage, what in killer.done.items():
        say(f"killed during {stage}: {what}")
    check(set(killer.done) == {"embed", "validate"},
          f"no running part of {sorted(set(('embed', 'validate')) - set(killer.done))} was seen to kill")

    tasks = [task for s in summary["stages"].values() for task in s["tasks"]]
    used = collections.Counter(task["node"] for task in tasks)
    check(len(summary["nodes"]) == 2 and set(used) == set(summary["nodes"]),
          f"tasks ran on {dict(used)}, not on both nodes {summary['nodes']}")
    for stage in ("embed", "validate"):
        check(summary["stages"][stage]["retries"] >= 1, f"the killed {stage} part was not retried")

    for stage, table in STAGES:
        folder = os.path.join(out, table)
        names = [f"part-{i:05}-of-{n:05}" for i in range(n)]
        check(sorted(os.listdir(folder)) == sorted(x + e for x in names for e in (".parquet", ".stats.json")),
              f"{folder} does not hold exactly the {n} parts and their markers: {sorted(os.listdir(folder))}")
        got = rows(os.path.join(folder, x + ".parquet") for x in names)
        want = rows([os.path.join(single, table + ".parquet")])
        check(got == want, f"{stage}: the parts' rows differ from the single process's:\n  {got}\n  {want}")

    accepted = sorted(v for v, status in rows(glob.glob(os.path.join(out, "scored", "*.parquet"))) if status == "ok")
    pushed = dataset_ids(os.path.join(out, "dataset"))
    check(accepted, "no accepted row: the test media should give some")
    check(pushed == accepted, f"the dataset holds {pushed}, not each accepted row once: {accepted}")
    check(pushed == dataset_ids(os.path.join(single, "dataset")), "the dataset differs from the single process's")

    per_stage = ", ".join(f"{s} {v['wall_s']:.1f}" for s, v in summary["stages"].items())
    say(f"single process {single_s:.1f} s; Ray {ray_s:.1f} s (stages: {per_stage}; "
        f"push-hf {summary['push_hf']['wall_s']:.1f}); tasks per node {sorted(used.values())}")
    say(f"ray pipeline test passed: {len(pushed)} accepted rows, {len(tasks)} tasks, {n} parts per stage")


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print(f"ray pipeline test FAILED: {e}", file=sys.stderr)
        sys.exit(1)
