#!/usr/bin/env python3
"""A strict stand-in for the Hugging Face Hub's upload endpoints, on 127.0.0.1, for tests.

Implements what `omega push-hf` (through the hf-hub crate) calls, as documented by the Hub
(huggingface_hub's HfApi.create_commit: preupload, LFS batch, NDJSON commit):

  GET  /api/datasets/{repo}/revision/{rev}          repo info with the branch head `sha`
  HEAD /datasets/{repo}/resolve/{rev}/{path}        200 when the file is in the repo, else 404
  GET  /datasets/{repo}/resolve/{rev}/{path}        the file
  POST /api/datasets/{repo}/preupload/{rev}         {"files":[{path,size,sample}]} -> upload modes
  POST /datasets/{repo}.git/info/lfs/objects/batch  git-lfs batch API -> `basic` transfer
  PUT  /lfs/{oid}                                   a basic LFS upload (sha256 checked)
  POST /api/datasets/{repo}/commit/{rev}            NDJSON: header, then file / lfsFile lines

Every request needs `Authorization: Bearer TOKEN`. Malformed requests get 400 with the reason;
a commit whose parentCommit is not the head gets 412. `--fail ENDPOINT:STATUS:TIMES` makes an
endpoint (info, exists, preupload, lfs, commit) answer STATUS that many times first; an
injected 412 also moves the head, as if someone else had committed. Committed files are
written under --storage; GET /_stats returns counters. Prints the port to --port-file.

Usage: mock_hub.py --storage DIR --port-file F --repo ORG/NAME --token T [--fail ...]
"""
import argparse, base64, hashlib, json, os, re, secrets, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

ap = argparse.ArgumentParser()
ap.add_argument("--storage", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--repo", required=True)
ap.add_argument("--token", required=True)
ap.add_argument("--fail", action="append", default=[])
args = ap.parse_args()

lock = threading.Lock()
state = {"head": secrets.token_hex(20), "files": {}, "lfs": {}}
stats = {"commits": 0, "requests": 0, "injected": 0, "rejected": 0, "committed_paths": []}
failures = {}
for spec in args.fail:
    endpoint, status, times = spec.split(":")
    failures.setdefault(endpoint, []).extend([int(status)] * int(times))
os.makedirs(args.storage, exist_ok=True)
REPO = re.escape(args.repo)
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class BadRequest(Exception):
    pass


def need(cond, why):
    if not cond:
        raise BadRequest(why)


class Hub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        return self._body

    def injected(self, endpoint):
        with lock:
            queue = failures.get(endpoint)
            if not queue:
                return False
            status = queue.pop(0)
            stats["injected"] += 1
            if status == 412:
                state["head"] = secrets.token_hex(20)
        self.reply(status, {"error": f"injected {status}"},
                   headers=[("Retry-After", "0")] if status == 429 else ())
        return True

    def route(self):
        stats["requests"] += 1
        n = int(self.headers.get("Content-Length", "0"))
        self._body = self.rfile.read(n) if n else b""  # always read: the connection is reused
        path = urlsplit(self.path).path
        if path == "/_stats":
            return self.reply(200, stats)
        if self.headers.get("Authorization") != f"Bearer {args.token}":
            return self.reply(401, {"error": "Invalid credentials in Authorization header"})
        routes = [
            ("GET", rf"^/api/datasets/{REPO}/revision/([^/]+)$", "info", self.info),
            ("HEAD", rf"^/datasets/{REPO}/resolve/([^/]+)/(.+)$", "exists", self.resolve),
            ("GET", rf"^/datasets/{REPO}/resolve/([^/]+)/(.+)$", "exists", self.resolve),
            ("POST", rf"^/api/datasets/{REPO}/preupload/([^/]+)$", "preupload", self.preupload),
            ("POST", rf"^/datasets/{REPO}\.git/info/lfs/objects/batch$", "lfs", self.lfs_batch),
            ("PUT", r"^/lfs/([0-9a-f]{64})$", "lfs", self.lfs_put),
            ("POST", rf"^/api/datasets/{REPO}/commit/([^/]+)$", "commit", self.commit),
        ]
        for method, pattern, endpoint, handler in routes:
            m = re.match(pattern, path)
            if m and method == self.command:
                if self.injected(endpoint):
                    return
                try:
                    return handler(*[unquote(g) for g in m.groups()])
                except BadRequest as e:
                    stats["rejected"] += 1
                    return self.reply(400, {"error": f"malformed request: {e}"})
        self.reply(404, {"error": f"no route {self.command} {path}"},
                   headers=[("X-Error-Code", "RepoNotFound")])

    do_GET = do_HEAD = do_POST = do_PUT = route

    def info(self, rev):
        need(rev == "main", "only the main branch exists")
        self.body()
        self.reply(200, {"id": args.repo, "sha": state["head"], "private": False})

    def resolve(self, rev, path):
        need(rev == "main", "only the main branch exists")
        content = state["files"].get(path)
        if content is None:
            return self.reply(404, {"error": "Entry not found"},
                              headers=[("X-Error-Code", "EntryNotFound")])
        self.reply(200, content, "application/octet-stream",
                   headers=[("X-Repo-Commit", state["head"]),
                            ("ETag", '"' + hashlib.sha256(content).hexdigest() + '"')])

    def preupload(self, rev):
        need(self.headers.get("Content-Type", "").startswith("application/json"), "Content-Type")
        req = json.loads(self.body())
        files = req.get("files")
        need(isinstance(files, list) and files, "`files` must be a non-empty list")
        out = []
        for f in files:
            need(isinstance(f.get("path"), str) and f["path"], "file without `path`")
            need(isinstance(f.get("size"), int) and f["size"] >= 0, f"{f['path']}: bad `size`")
            sample = base64.b64decode(f.get("sample", ""), validate=True)
            need(len(sample) <= 512 and len(sample) == min(512, f["size"]), f"{f['path']}: bad `sample`")
            mode = "lfs" if f["path"].endswith(".parquet") else "regular"
            out.append({"path": f["path"], "uploadMode": mode, "shouldIgnore": False})
        self.reply(200, {"files": out, "commitOid": state["head"]})

    def lfs_batch(self):
        need(self.headers.get("Content-Type", "").startswith("application/vnd.git-lfs+json"), "Content-Type")
        need(self.headers.get("Accept", "").startswith("application/vnd.git-lfs+json"), "Accept")
        req = json.loads(self.body())
        need(req.get("operation") == "upload", "`operation` must be upload")
        need("basic" in req.get("transfers", []), "the client must offer the basic transfer")
        need(req.get("hash_algo", "sha256") == "sha256", "hash_algo")
        objects = req.get("objects")
        need(isinstance(objects, list) and objects, "`objects` must be a non-empty list")
        host = f"http://127.0.0.1:{self.server.server_port}"
        out = []
        for o in objects:
            need(isinstance(o.get("oid"), str) and HEX64.match(o["oid"]), "oid must be sha256 hex")
            need(isinstance(o.get("size"), int) and o["size"] >= 0, "bad size")
            entry = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if o["oid"] not in state["lfs"]:
                entry["actions"] = {"upload": {"href": f"{host}/lfs/{o['oid']}", "header": {}}}
            out.append(entry)
        self.reply(200, {"transfer": "basic", "objects": out}, "application/vnd.git-lfs+json")

    def lfs_put(self, oid):
        data = self.body()
        need(hashlib.sha256(data).hexdigest() == oid, "content does not match the oid")
        state["lfs"][oid] = data
        self.reply(200, b"", "text/plain")

    def commit(self, rev):
        need(rev == "main", "only the main branch exists")
        need(self.headers.get("Content-Type", "").startswith("application/x-ndjson"), "Content-Type")
        lines = [json.loads(l) for l in self.body().decode().splitlines() if l.strip()]
        need(lines and lines[0].get("key") == "header", "the first line must be the header")
        header = lines[0]["value"]
        need(isinstance(header.get("summary"), str) and header["summary"], "header without summary")
        adds = {}
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            path = value.get("path")
            need(isinstance(path, str) and path and not path.startswith("/") and ".." not in path,
                 f"bad path {path!r}")
            need(path not in adds, f"{path} twice in one commit")
            if key == "file":
                need(value.get("encoding") == "base64", f"{path}: encoding must be base64")
                adds[path] = base64.b64decode(value["content"], validate=True)
            elif key == "lfsFile":
                need(value.get("algo") == "sha256", f"{path}: algo")
                data = state["lfs"].get(value.get("oid"))
                need(data is not None, f"{path}: LFS object {value.get('oid')} was never uploaded")
                need(len(data) == value.get("size"), f"{path}: size")
                adds[path] = data
            else:
                raise BadRequest(f"unknown line key {key!r}")
        need(adds, "a commit without files")
        with lock:
            parent = header.get("parentCommit")
            if parent is not None and parent != state["head"]:
                return self.reply(412, {"error": "A commit has happened since. Please refresh and try again."})
            for path, data in adds.items():
                dest = os.path.join(args.storage, path)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with open(dest + ".tmp", "wb") as f:
                    f.write(data)
                os.replace(dest + ".tmp", dest)
                state["files"][path] = data
                stats["committed_paths"].append(path)
            state["head"] = secrets.token_hex(20)
            stats["commits"] += 1
        self.reply(200, {"success": True, "commitOid": state["head"],
                         "commitUrl": f"http://hub/datasets/{args.repo}/commit/{state['head']}"})


server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.replace(args.port_file + ".tmp", args.port_file)
server.serve_forever()
