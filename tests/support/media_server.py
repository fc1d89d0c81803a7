#!/usr/bin/env python3
"""A small HTTP/1.1 media server on 127.0.0.1 for omega's tests (stdlib only).

Prints its port on the first line of stdout, then serves ROOT:
  /media/NAME              the file, with Range requests (yt-dlp and ffmpeg seek with them)
  /status/CODE/NAME        answers HTTP CODE (403, 404, 429, ...)
  /hang/NAME               accepts the request and never answers (until the server stops)
  /flaky/K/KEY/NAME        answers 429 to the first K requests for KEY, then serves NAME
The server stops by itself after --lifetime seconds.
"""
import argparse
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
FLAKY = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_HEAD(self):
        self.route(head=True)

    def do_GET(self):
        self.route(head=False)

    def route(self, head):
        parts = self.path.split("?")[0].lstrip("/").split("/")
        kind = parts[0]
        if kind == "media" and len(parts) == 2:
            return self.serve(parts[1], head)
        if kind == "status" and len(parts) == 3 and parts[1].isdigit():
            return self.plain(int(parts[1]), head)
        if kind == "hang":
            time.sleep(ARGS.lifetime)
            return
        if kind == "flaky" and len(parts) == 4 and parts[1].isdigit():
            with LOCK:
                n = FLAKY.get(parts[2], 0)
                FLAKY[parts[2]] = n + 1
            if n < int(parts[1]):
                return self.plain(429, head)
            return self.serve(parts[3], head)
        return self.plain(404, head)

    def plain(self, code, head):
        body = f"{code}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def serve(self, name, head):
        path = os.path.join(ARGS.root, os.path.basename(name))
        if not os.path.isfile(path):
            return self.plain(404, head)
        size = os.path.getsize(path)
        start, end, code = 0, size - 1, 200
        m = re.match(r"bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if m and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
            else:
                start = max(0, size - int(m.group(2)))
            end = min(end, size - 1)
            if start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            code = 206
        self.send_response(code)
        ctype = {"mp4": "video/mp4", "webm": "video/webm", "mkv": "video/x-matroska"}.get(
            name.rsplit(".", 1)[-1], "application/octet-stream")
        self.send_header("Content-Type", ctype)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head:
            return
        with open(path, "rb") as f:
            f.seek(start)
            left = end - start + 1
            try:
                while left > 0:
                    chunk = f.read(min(1 << 16, left))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients hanging up mid-response (timeouts, killed yt-dlp) are part of the tests.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--lifetime", type=float, default=300)
    ARGS = p.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Timer(ARGS.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
