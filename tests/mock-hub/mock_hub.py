#!/usr/bin/env python3
"""A local stand-in for the Hugging Face Hub, for chexlens' tests.

It speaks what the CLI, the page and Python's huggingface_hub use:
  GET  /api/models/OWNER/NAME[/revision/REV][?blobs=true]   the file listing
  GET  /api/models/OWNER/NAME/tree/REV[?recursive=true]   the same, as huggingface_hub lists it
  GET|HEAD /OWNER/NAME/resolve/REV/PATH                     a file
LFS files (.pth, .safetensors, .bin) are redirected (302) to a second origin,
the "CDN" (http://127.0.0.1:PORT2: another port, so another origin, on the
host the page's CSP opens for a custom endpoint), which serves Range requests
and, like a pre-signed storage URL, refuses any Authorization header. Every response carries the
Hub's headers (X-Repo-Commit, ETag, X-Linked-Etag, X-Linked-Size,
X-Error-Code) and CORS headers for the page.

Repositories are folders: ROOT/OWNER/NAME/... holds the files; an optional
ROOT/OWNER/NAME.json says {"private": true, "tokens": ["hf_..."]}.
Tokens: any token in a repo's list reads it; a token listed in ROOT/tokens.txt
is valid but reads only public repos and those naming it; others are invalid.

Control (for the tests, on the Hub origin):
  GET  /_mock/log           the requests so far, as JSON lines of
                            {"origin": "hub"|"cdn", "method", "path", "authorization": bool, "range"}
  POST /_mock/log/clear
  POST /_mock/down?on=1|0    while on, every other request is answered by closing the
                            connection (the Hub unreachable)
  POST /_mock/fault?path=OWNER/NAME/PATH&kind=interrupt|corrupt|clear
       interrupt: the next download of it stops halfway (connection closed);
       corrupt: it is served with one byte changed until cleared.

The tests' repositories (`--fixtures`, built from the committed fixtures into
a temporary folder; the CLI's and the page's tests both use them):
  calender/Ensemble_C  private, read by TOKEN: tiny_m0.pth, tiny_m1_checkpoint.pth, tiny_m2.pth
  open/tiny            tiny_m0.safetensors and tiny_m0.pth (the same member twice), README.md
  open/manifested      chexlens.json naming weights/b.pth (tiny_m2), weights/a.pth (tiny_m0);
                       unused.pth beside them
  open/empty           README.md only
OTHER_TOKEN is valid but reads only public repositories.

Run: python3 mock_hub.py ROOT | --fixtures   (prints "hub http://127.0.0.1:P cdn http://127.0.0.1:Q";
it stops when its standard input closes)
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".pth", ".safetensors", ".bin")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../crates/chexlens-model/tests/fixtures")
TOKEN = "hf_reader_5ecret"
OTHER_TOKEN = "hf_other_valid"
EXPOSED = "X-Repo-Commit, X-Linked-Etag, X-Linked-Size, ETag, Content-Range, Content-Length, X-Error-Code, Location"

log = []
faults = {}
down = [False]
lock = threading.Lock()


class Repo:
    def __init__(self, root, owner, name):
        self.id = f"{owner}/{name}"
        self.folder = os.path.join(root, owner, name)
        config_path = self.folder + ".json"
        config = json.load(open(config_path)) if os.path.exists(config_path) else {}
        self.private = bool(config.get("private", False))
        self.tokens = set(config.get("tokens", []))
        self.files = {}
        for dirpath, _, names in os.walk(self.folder):
            for n in names:
                full = os.path.join(dirpath, n)
                path = os.path.relpath(full, self.folder).replace(os.sep, "/")
                self.files[path] = open(full, "rb").read()
        digest = hashlib.sha1()
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + self.files[path])
        self.commit = digest.hexdigest()

    def is_lfs(self, path):
        return path.endswith(LFS_SUFFIXES)

    def sibling(self, path, blobs):
        data = self.files[path]
        entry = {"rfilename": path}
        if blobs:
            entry["blobId"] = git_blob_id(data)
            entry["size"] = len(data)
            if self.is_lfs(path):
                entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def repos(root):
    found = {}
    for owner in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, owner)):
            continue
        for name in sorted(os.listdir(os.path.join(root, owner))):
            if os.path.isdir(os.path.join(root, owner, name)):
                found[f"{owner}/{name}"] = Repo(root, owner, name)
    return found


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-hub"

    def log_message(self, *args):
        pass

    def record(self):
        with lock:
            log.append(
                {
                    "origin": self.server.role,
                    "method": self.command,
                    "path": self.path,
                    "authorization": "Authorization" in self.headers,
                    "range": self.headers.get("Range"),
                }
            )

    def send(self, status, body=b"", headers=None, error_code=None):
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", EXPOSED)
        if error_code:
            self.send_header("X-Error-Code", error_code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def unreachable(self):
        """While the mock is down, drops the connection unanswered."""
        if down[0] and not self.path.startswith("/_mock/"):
            self.record()
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        return False

    def do_OPTIONS(self):
        if self.unreachable():
            return
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Authorization, Range")
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.record()
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/_mock/log/clear":
            with lock:
                log.clear()
            return self.send(204)
        if url.path == "/_mock/down":
            down[0] = query.get("on", ["1"])[0] == "1"
            return self.send(204)
        if url.path == "/_mock/fault":
            with lock:
                path = query["path"][0]
                kind = query["kind"][0]
                if kind == "clear":
                    faults.pop(path, None)
                else:
                    faults[path] = kind
            return self.send(204)
        self.send(404)

    def do_GET(self):
        if self.unreachable():
            return
        url = urlsplit(self.path)
        if url.path == "/_mock/log":
            with lock:
                body = "".join(json.dumps(e) + "\n" for e in log).encode()
            return self.send(200, body, {"Content-Type": "application/x-ndjson"})
        self.record()
        if self.server.role == "cdn":
            return self.cdn(url)
        return self.hub(url)

    # --- the Hub --------------------------------------------------------
    def access(self, repo):
        """None when the request may read the repo, else the refusal."""
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        known = self.server.known_tokens | set().union(*(r.tokens for r in self.server.repos.values()))
        if token is not None and token not in known:
            return (401, "Invalid credentials in Authorization header", None)
        if not repo.private or (token in repo.tokens):
            return None
        if token is None:
            return (401, "Repository not found", "RepoNotFound")
        return (404, "Repository not found", "RepoNotFound")

    def refuse(self, status, message, code):
        self.send(status, json.dumps({"error": message}).encode(), {"Content-Type": "application/json"}, code)

    def find_repo(self, parts):
        if len(parts) < 2:
            return None
        return self.server.repos.get(f"{parts[0]}/{parts[1]}")

    def revision_ok(self, repo, revision):
        return revision in ("main", repo.commit)

    def hub(self, url):
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if parts[:2] == ["api", "models"]:
            repo = self.find_repo(parts[2:])
            if repo is None:
                return self.refuse(401, "Repository not found", "RepoNotFound")
            refused = self.access(repo)
            if refused:
                return self.refuse(*refused)
            revision = "main"
            if len(parts) >= 6 and parts[4] in ("revision", "tree"):
                revision = "/".join(parts[5:])
            if not self.revision_ok(repo, revision):
                return self.refuse(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if len(parts) >= 6 and parts[4] == "tree":
                return self.tree(repo)
            blobs = parse_qs(url.query).get("blobs", ["false"])[0] == "true"
            body = {
                "id": repo.id,
                "modelId": repo.id,
                "sha": repo.commit,
                "private": repo.private,
                "siblings": [repo.sibling(p, blobs) for p in sorted(repo.files)],
            }
            return self.send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = self.find_repo(parts)
            if repo is None:
                return self.refuse(401, "Repository not found", "RepoNotFound")
            refused = self.access(repo)
            if refused:
                return self.refuse(*refused)
            revision, path = parts[3], "/".join(parts[4:])
            if not self.revision_ok(repo, revision):
                return self.refuse(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if path not in repo.files:
                return self.refuse(404, "Entry not found", "EntryNotFound")
            data = repo.files[path]
            headers = {"X-Repo-Commit": repo.commit}
            if repo.is_lfs(path):
                sha = hashlib.sha256(data).hexdigest()
                headers.update(
                    {
                        "X-Linked-Etag": f'"{sha}"',
                        "X-Linked-Size": str(len(data)),
                        "ETag": f'"{git_blob_id(data)}"',
                        "Location": f"{self.server.cdn_origin}/objects/{quote(repo.id)}/{quote(path)}?expires=never",
                    }
                )
                return self.send(302, b"", headers)
            headers["ETag"] = f'"{git_blob_id(data)}"'
            return self.serve_bytes(data, headers)
        self.refuse(404, "Not found", None)

    def tree(self, repo):
        entries = []
        for path in sorted(repo.files):
            data = repo.files[path]
            entry = {"type": "file", "oid": git_blob_id(data), "size": len(data), "path": path}
            if repo.is_lfs(path):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries.append(entry)
        self.send(200, json.dumps(entries).encode(), {"Content-Type": "application/json"})

    # --- the CDN --------------------------------------------------------
    def cdn(self, url):
        if "Authorization" in self.headers:
            # A pre-signed storage URL takes no second credential.
            return self.send(400, b"Only one auth mechanism allowed", {"Content-Type": "text/plain"})
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if len(parts) < 4 or parts[0] != "objects":
            return self.send(404)
        repo = self.server.repos.get(f"{parts[1]}/{parts[2]}") if len(parts) > 2 else None
        if repo is None:
            return self.send(404)
        # quote() above encoded the repo id's "/" as-is, so the id spans two segments.
        path = "/".join(parts[3:])
        if path not in repo.files:
            return self.send(404)
        data = repo.files[path]
        key = f"{repo.id}/{path}"
        with lock:
            fault = faults.get(key)
            if fault == "interrupt" and self.command == "GET":
                faults.pop(key)
        if fault == "corrupt":
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        headers = {"ETag": f'"{hashlib.sha256(repo.files[path]).hexdigest()}"', "Accept-Ranges": "bytes"}
        self.serve_bytes(data, headers, interrupt=(fault == "interrupt" and self.command == "GET"))

    def serve_bytes(self, data, headers, interrupt=False):
        total = len(data)
        start, end, status = 0, total - 1, 200
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            first, _, last = range_header[len("bytes="):].partition("-")
            start = int(first or 0)
            end = min(int(last), total - 1) if last else total - 1
            if start >= total:
                return self.send(416, b"", {"Content-Range": f"bytes */{total}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        body = data[start:end + 1]
        headers.setdefault("Content-Type", "application/octet-stream")
        if not interrupt:
            return self.send(status, body, headers)
        # Headers promise the whole body; half of it arrives, then the connection closes.
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", EXPOSED)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(2)


def serve(role, host, repos_by_id, known_tokens, cdn_origin=None):
    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    server.role = role
    server.repos = repos_by_id
    server.known_tokens = known_tokens
    server.cdn_origin = cdn_origin
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fixture_repos():
    root = tempfile.mkdtemp(prefix="chexlens-mock-hub-")

    def put(fixture, path):
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        shutil.copyfile(os.path.join(FIXTURES, fixture), os.path.join(root, path))

    def write(path, text):
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as f:
            f.write(text)

    for member in ("tiny_m0.pth", "tiny_m1_checkpoint.pth", "tiny_m2.pth"):
        put(member, f"calender/Ensemble_C/{member}")
    write("calender/Ensemble_C.json", json.dumps({"private": True, "tokens": [TOKEN]}))
    write("tokens.txt", OTHER_TOKEN)
    put("tiny_m0.safetensors", "open/tiny/tiny_m0.safetensors")
    put("tiny_m0.pth", "open/tiny/tiny_m0.pth")
    write("open/tiny/README.md", "# tiny\n")
    put("tiny_m2.pth", "open/manifested/weights/b.pth")
    put("tiny_m0.pth", "open/manifested/weights/a.pth")
    put("tiny_m1_checkpoint.pth", "open/manifested/unused.pth")
    write(
        "open/manifested/chexlens.json",
        json.dumps({"name": "manifested", "members": [{"weights": "weights/b.pth"}, {"weights": "weights/a.pth"}]}),
    )
    write("open/empty/README.md", "nothing here\n")
    return root


def main():
    root = fixture_repos() if sys.argv[1] == "--fixtures" else sys.argv[1]
    repos_by_id = repos(root)
    tokens_file = os.path.join(root, "tokens.txt")
    known = set(open(tokens_file).read().split()) if os.path.exists(tokens_file) else set()
    cdn = serve("cdn", "127.0.0.1", repos_by_id, known)
    cdn_origin = f"http://127.0.0.1:{cdn.server_address[1]}"
    hub = serve("hub", "127.0.0.1", repos_by_id, known, cdn_origin)
    print(f"hub http://127.0.0.1:{hub.server_address[1]} cdn {cdn_origin}", flush=True)
    try:
        sys.stdin.read()  # runs until its parent closes stdin or kills it
    except KeyboardInterrupt:
        pass
    finally:
        if sys.argv[1] == "--fixtures":
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
