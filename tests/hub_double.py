"""A test double of the Hugging Face Hub HTTP API, served on 127.0.0.1, for the publishing tests.

It speaks the subset of the API that `huggingface_hub` uses to publish and download a model repo (model repos only):

    GET  /api/whoami-v2                                   who the token belongs to
    GET  /api/agent-harnesses                             the (empty) registry huggingface_hub reads for telemetry
    POST /api/repos/create                                create a repo (409 if it exists)
    POST /api/validate-yaml                               check a model card's metadata
    GET  /api/models/{repo}[/revision/{rev}]              repo info (sha, siblings, card data)
    GET  /api/models/{repo}/tree/{rev}[/{path}]           file listing
    POST /api/models/{repo}/preupload/{rev}               regular or LFS upload mode for each file
    POST /api/models/{repo}/commit/{rev}                  NDJSON commit (regular files inline, LFS files by oid)
    POST /{repo}.git/info/lfs/objects/batch               LFS upload instructions
    PUT  /storage/{sha256}?signature=...                  the "S3" upload an LFS action points to (no token)
    POST /{repo}.git/info/lfs/objects/verify              LFS upload check
    HEAD|GET /{repo}/resolve/{rev}/{path}                 file metadata (ETag, X-Repo-Commit) and content

It is strict where the real Hub is, so that a client sending something wrong fails the test: a request without a
valid token where one is needed is refused with 401, an unknown repo, revision or file with 404 and the
`X-Error-Code` header `huggingface_hub` reads, a malformed body with 400, and an endpoint it does not know with 404
(the Xet upload path included: clients must run with `HF_HUB_DISABLE_XET=1`). Those last two are the client's
mistakes: each is recorded in `HubDouble.rejected` with its reason. Binary or large files must go through LFS, an
LFS upload must match its sha256 and size, a commit must name uploaded objects, a model card's metadata must have
the structure the Hub reads, and the storage URL must not receive the token. Committed files are kept in memory,
commit by commit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the Hub refuses regular (non-LFS) files above 10 MB
LFS_PATTERNS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack", ".pkl", ".npy", ".zip")
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_PATTERNS).encode()
PIPELINE_TAGS = {
    "text-classification",
    "token-classification",
    "fill-mask",
    "text-generation",
    "text2text-generation",
    "translation",
    "summarization",
    "question-answering",
    "feature-extraction",
}
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_REPO = r"(?P<repo>[^/]+/[^/]+?)"


class Rejected(Exception):
    """Ends a request with an error status; 400s (and unknown endpoints) are recorded as the client's mistakes."""

    def __init__(self, status: int, message: str, code: str | None = None, mistake: bool | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.mistake = status == 400 if mistake is None else mistake


@dataclass(frozen=True)
class Account:
    name: str
    orgs: tuple[str, ...] = ()
    role: str = "write"  # "write" or "read"


@dataclass(frozen=True)
class Blob:
    content: bytes
    lfs: bool

    @property
    def git_oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.content) + self.content).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def etag(self) -> str:  # what the Hub sends: the sha256 for LFS files, the git blob id otherwise
        return self.sha256 if self.lfs else self.git_oid


@dataclass
class Commit:
    oid: str
    message: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_id: str
    private: bool
    created_at: str
    commits: list[Commit] = field(default_factory=list)

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def at(self, revision: str) -> Commit:
        if revision == "main":
            return self.head
        for commit in self.commits:
            if commit.oid == revision:
                return commit
        raise Rejected(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def files(self, revision: str = "main") -> dict[str, bytes]:
        return {path: blob.content for path, blob in self.at(revision).files.items()}


@dataclass
class _PendingUpload:
    size: int
    lfs: bool
    sample: bytes


class HubDouble:
    """The Hub API on 127.0.0.1:<free port>; ``url`` is what ``HF_ENDPOINT`` should be set to.

    ``accounts`` maps tokens to the account they authenticate. Use as a context manager, or start()/stop().
    """

    def __init__(self, accounts: dict[str, Account], request_timeout: float = 30.0):
        self.accounts = dict(accounts)
        self.repos: dict[str, Repo] = {}
        self.rejected: list[str] = []  # "METHOD path: reason" of every 400 and unknown endpoint
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self._storage: dict[str, bytes] = {}  # LFS objects by sha256
        self._expected_uploads: dict[str, int] = {}  # sha256 -> size announced in an LFS batch
        self._preuploaded: dict[tuple[str, str], _PendingUpload] = {}  # (repo, path) -> announced upload
        self._failures: list[tuple[str, re.Pattern, int, str | None]] = []
        self._signing_key = secrets.token_bytes(16)
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self._request_timeout = request_timeout
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubDouble:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubDouble:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def fail_next(self, method: str, path_pattern: str, status: int, error_code: str | None = None) -> None:
        """Answer the next ``method`` request whose path matches ``path_pattern`` (a regex) with ``status``."""
        with self._lock:
            self._failures.append((method, re.compile(path_pattern), status, error_code))

    def commits(self, repo_id: str) -> list[str]:
        """The commit messages of ``repo_id``, oldest first (the first is the Hub's own initial commit)."""
        return [commit.message for commit in self.repos[repo_id].commits]

    # --- request handling --------------------------------------------------------------------------------------

    def handle(self, request: _Handler) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(request.path)
        query = parse_qs(split.query, keep_blank_values=True)
        method, path = request.command, split.path
        with self._lock:
            for index, (fail_method, pattern, status, code) in enumerate(self._failures):
                if fail_method == method and pattern.search(path):
                    del self._failures[index]
                    raise Rejected(status, f"injected failure {status}", code)
        for route_method, pattern, handler in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match and method in route_method.split("|"):
                params = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                return handler(self, request, query, **params)
        raise Rejected(404, f"the Hub double does not serve {method} {path}", mistake=True)

    def _account(self, request: _Handler, required: bool) -> Account | None:
        header = request.headers.get("Authorization")
        if header is None:
            if required:
                raise Rejected(401, "Invalid credentials in Authorization header")
            return None
        scheme, _, token = header.partition(" ")
        account = self.accounts.get(token) if scheme.lower() == "bearer" else None
        if account is None:
            raise Rejected(401, "Invalid credentials in Authorization header")
        return account

    def _writer(self, request: _Handler, repo_id: str) -> Account:
        account = self._account(request, required=True)
        namespace = repo_id.split("/")[0]
        if account.role != "write" or namespace not in (account.name, *account.orgs):
            raise Rejected(403, f"You don't have the rights to write to {repo_id}")
        return account

    def _readable_repo(self, request: _Handler, repo_id: str) -> Repo:
        account = self._account(request, required=False)
        repo = self.repos.get(repo_id)
        if repo is None or (
            repo.private and (account is None or repo_id.split("/")[0] not in (account.name, *account.orgs))
        ):
            raise Rejected(404 if account else 401, "Repository not found", "RepoNotFound")
        return repo

    def _writable_repo(self, request: _Handler, repo_id: str, revision: str) -> Repo:
        self._writer(request, repo_id)
        repo = self._readable_repo(request, repo_id)
        if revision != "main":
            raise Rejected(404, f"Invalid rev id: {revision} (the double has a main branch only)", "RevisionNotFound")
        return repo

    # --- endpoints -----------------------------------------------------------------------------------------------

    def whoami(self, request, query):
        account = self._account(request, required=True)
        return _json(
            {
                "type": "user",
                "name": account.name,
                "fullname": account.name,
                "orgs": [{"type": "org", "name": org} for org in account.orgs],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": account.role}},
            }
        )

    def agent_harnesses(self, request, query):
        return _json({"standardEnvVars": [], "harnesses": {}})

    def create_repo(self, request, query):
        body = _json_body(request, required={"name", "organization"}, optional={"visibility", "type"})
        if body.get("type", "model") != "model":
            raise Rejected(400, f"the Hub double serves model repos only, not {body['type']}")
        if body.get("visibility", "public") not in ("public", "private"):
            raise Rejected(400, f"visibility must be public or private, got {body['visibility']!r}")
        account = self._account(request, required=True)
        repo_id = f"{body['organization'] or account.name}/{body['name']}"
        if not REPO_ID.fullmatch(repo_id) or "--" in repo_id or ".." in repo_id:
            raise Rejected(400, f"invalid repo name {repo_id!r}")
        self._writer(request, repo_id)
        url = f"{self.url}/{repo_id}"
        with self._lock:
            if repo_id in self.repos:
                return _json({"error": "You already created this model repo", "url": url}, status=409)
            repo = Repo(repo_id, private=body.get("visibility") == "private", created_at=_now())
            # Like the Hub, a new repo starts with one commit holding the LFS rules.
            repo.commits.append(Commit(_commit_oid(), "initial commit", {".gitattributes": Blob(GITATTRIBUTES, False)}))
            self.repos[repo_id] = repo
        return _json({"url": url, "name": repo_id, "id": secrets.token_hex(12)})

    def validate_yaml(self, request, query):
        self._account(request, required=True)
        body = _json_body(request, required={"content", "repoType"})
        if body["repoType"] != "model":
            raise Rejected(400, "the Hub double validates model cards only")
        errors = card_metadata_errors(body["content"])
        if errors:
            return _json({"errors": [{"message": error} for error in errors], "warnings": []}, status=400)
        return _json({"errors": [], "warnings": []})

    def repo_info(self, request, query, repo, rev="main"):
        _check_query(query, allowed={"blobs", "securityStatus", "expand"})
        found = self._readable_repo(request, repo)
        commit = found.at(rev)
        card = _card_metadata(commit.files.get("README.md"))
        return _json(
            {
                "_id": hashlib.md5(repo.encode()).hexdigest()[:24],
                "id": repo,
                "modelId": repo,
                "author": repo.split("/")[0],
                "sha": commit.oid,
                "private": found.private,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "createdAt": found.created_at,
                "lastModified": found.created_at,
                "library_name": card.get("library_name"),
                "pipeline_tag": card.get("pipeline_tag"),
                "tags": card.get("tags", []),
                "cardData": card or None,
                "siblings": [{"rfilename": path} for path in sorted(commit.files)],
            }
        )

    def tree(self, request, query, repo, rev, path=""):
        _check_query(query, allowed={"recursive", "expand", "limit", "cursor"})
        commit = self._readable_repo(request, repo).at(rev)
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        prefix = f"{path.strip('/')}/" if path else ""
        below = {name: blob for name, blob in commit.files.items() if name.startswith(prefix)}
        if path and not below:
            raise Rejected(404, f"{path} does not exist on {rev}", "EntryNotFound")
        entries: dict[str, dict] = {}
        for name, blob in sorted(below.items()):
            parts = name[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # folders on the way
                folder = prefix + "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(folder, {"type": "directory", "oid": _folder_oid(folder), "size": 0})
            if recursive or len(parts) == 1:
                entries[name] = _file_entry(blob)
        return _json([{"path": name, **entry} for name, entry in entries.items()])

    def preupload(self, request, query, repo, rev):
        _check_query(query, allowed=set())
        found = self._writable_repo(request, repo, rev)
        body = _json_body(request, required={"files"}, optional={"gitIgnore"})
        files = body["files"]
        if not isinstance(files, list) or not files:
            raise Rejected(400, "'files' must be a non-empty list")
        answers = []
        for item in files:
            if not isinstance(item, dict) or set(item) != {"path", "sample", "size"}:
                raise Rejected(400, f"each file needs exactly path, sample and size, got {item!r}")
            path, size = _repo_path(item["path"]), item["size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise Rejected(400, f"{path}: size must be a non-negative integer")
            sample = _b64decode(item["sample"], f"{path}: sample")
            if len(sample) != min(size, 512):
                raise Rejected(400, f"{path}: the sample must be the first {min(size, 512)} bytes, got {len(sample)}")
            lfs = size > 0 and (path.endswith(LFS_PATTERNS) or b"\0" in sample or size >= LFS_SIZE_THRESHOLD)
            with self._lock:
                self._preuploaded[(repo, path)] = _PendingUpload(size, lfs, sample)
            existing = found.head.files.get(path)
            answers.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": existing.etag if existing is not None else None,
                }
            )
        return _json({"files": answers, "commitOid": found.head.oid})

    def lfs_batch(self, request, query, repo):
        self._writable_repo(request, repo, "main")
        if "application/vnd.git-lfs+json" not in request.headers.get("Accept", ""):
            raise Rejected(400, "LFS batch requests must accept application/vnd.git-lfs+json")
        body = _json_body(request, required={"operation", "transfers", "objects", "hash_algo"}, optional={"ref"})
        if body["operation"] != "upload" or body["hash_algo"] != "sha256" or "basic" not in body["transfers"]:
            raise Rejected(400, f"unsupported LFS batch request {body!r}")
        if body.get("ref", {"name": "main"}) != {"name": "main"}:
            raise Rejected(400, f"LFS ref must be main, got {body['ref']!r}")
        objects = []
        for item in body["objects"]:
            oid, size = item.get("oid"), item.get("size")
            if set(item) != {"oid", "size"} or not re.fullmatch(r"[0-9a-f]{64}", str(oid)) or not isinstance(size, int):
                raise Rejected(400, f"malformed LFS object {item!r}")
            answer: dict[str, Any] = {"oid": oid, "size": size}
            with self._lock:
                if oid not in self._storage:
                    self._expected_uploads[oid] = size
                    signature = hmac.new(self._signing_key, oid.encode(), "sha256").hexdigest()
                    answer["authenticated"] = True
                    answer["actions"] = {
                        "upload": {"href": f"{self.url}/storage/{oid}?signature={signature}"},
                        "verify": {"href": f"{self.url}/{repo}.git/info/lfs/objects/verify"},
                    }
            objects.append(answer)
        return _json({"transfer": "basic", "objects": objects}, content_type="application/vnd.git-lfs+json")

    def storage_put(self, request, query, oid):
        if request.headers.get("Authorization") is not None:
            raise Rejected(400, "the Hub token was sent to the storage URL")
        expected = hmac.new(self._signing_key, oid.encode(), "sha256").hexdigest()
        if not hmac.compare_digest(query.get("signature", [""])[0], expected):
            raise Rejected(403, "bad or missing upload signature")
        data = request.body()
        with self._lock:
            size = self._expected_uploads.get(oid)
            if size is None:
                raise Rejected(400, f"no LFS batch announced {oid}")
            if len(data) != size or hashlib.sha256(data).hexdigest() != oid:
                raise Rejected(400, f"upload of {oid} does not match its sha256 or its size ({size} bytes)")
            self._storage[oid] = data
        return 200, {}, b""

    def lfs_verify(self, request, query, repo):
        self._writable_repo(request, repo, "main")
        body = _json_body(request, required={"oid", "size"})
        stored = self._storage.get(body["oid"])
        if stored is None or len(stored) != body["size"]:
            raise Rejected(404, f"object {body['oid']} was not uploaded", "EntryNotFound")
        return _json({"success": True})

    def commit(self, request, query, repo, rev):
        _check_query(query, allowed=set())
        found = self._writable_repo(request, repo, rev)
        if request.headers.get("Content-Type") != "application/x-ndjson":
            raise Rejected(400, "a commit must be sent as application/x-ndjson")
        try:
            lines = [json.loads(line) for line in request.body().decode().splitlines() if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Rejected(400, f"commit body is not NDJSON: {error}") from None
        if not lines or lines[0].get("key") != "header":
            raise Rejected(400, "a commit starts with its header line")
        header = lines[0].get("value", {})
        if set(header) - {"summary", "description", "parentCommit"} or not str(header.get("summary", "")).strip():
            raise Rejected(400, f"malformed commit header {header!r}")
        if header.get("parentCommit") not in (None, found.head.oid):
            raise Rejected(412, "parent commit is not the head of main")
        files = dict(found.head.files)
        touched: set[str] = set()
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value")
            if not isinstance(value, dict) or not isinstance(value.get("path"), str):
                raise Rejected(400, f"malformed commit operation {line!r}")
            path = _repo_path(value["path"])
            if path in touched:
                raise Rejected(400, f"{path} appears twice in one commit")
            touched.add(path)
            if key == "file":
                files[path] = self._regular_file(repo, path, value)
            elif key == "lfsFile":
                files[path] = self._lfs_file(repo, path, value)
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise Rejected(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            else:
                raise Rejected(400, f"the Hub double does not support commit operation {key!r}")
        if "README.md" in files and "README.md" in touched:
            errors = card_metadata_errors(files["README.md"].content.decode("utf-8", errors="replace"))
            if errors:
                raise Rejected(400, f"invalid model card metadata: {'; '.join(errors)}")
        commit = Commit(_commit_oid(), header["summary"], files)
        with self._lock:
            found.commits.append(commit)
        return _json({"commitUrl": f"{self.url}/{repo}/commit/{commit.oid}", "commitOid": commit.oid})

    def _regular_file(self, repo: str, path: str, value: dict) -> Blob:
        if set(value) != {"path", "content", "encoding"} or value["encoding"] != "base64":
            raise Rejected(400, f"{path}: a regular file is sent as base64 content")
        content = _b64decode(value["content"], f"{path}: content")
        announced = self._preuploaded.get((repo, path))
        if announced is None:
            raise Rejected(400, f"{path} was not preuploaded")
        if announced.lfs:
            raise Rejected(400, f"{path} is binary or large: it must be uploaded with LFS")
        if len(content) != announced.size or content[:512] != announced.sample:
            raise Rejected(400, f"{path}: content differs from what preupload announced")
        return Blob(content, lfs=False)

    def _lfs_file(self, repo: str, path: str, value: dict) -> Blob:
        if set(value) != {"path", "algo", "oid", "size"} or value["algo"] != "sha256":
            raise Rejected(400, f"{path}: an LFS file is sent as path, algo sha256, oid and size")
        content = self._storage.get(value["oid"])
        if content is None or len(content) != value["size"]:
            raise Rejected(400, f"{path}: LFS object {value['oid']} was not uploaded")
        announced = self._preuploaded.get((repo, path))
        if announced is None or not announced.lfs or content[:512] != announced.sample:
            raise Rejected(400, f"{path}: not announced as an LFS file by preupload")
        return Blob(content, lfs=True)

    def resolve(self, request, query, repo, rev, path):
        commit = self._readable_repo(request, repo).at(rev)
        blob = commit.files.get(path)
        if blob is None:
            raise Rejected(404, "Entry not found", "EntryNotFound")
        headers = {
            "ETag": f'"{blob.etag}"',
            "X-Repo-Commit": commit.oid,
            "Content-Type": "application/octet-stream",
        }
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(len(blob.content))})
        return 200, headers, blob.content


_ROUTES = [
    ("GET", r"/api/whoami-v2", HubDouble.whoami),
    ("GET", r"/api/agent-harnesses", HubDouble.agent_harnesses),
    ("POST", r"/api/repos/create", HubDouble.create_repo),
    ("POST", r"/api/validate-yaml", HubDouble.validate_yaml),
    ("GET", rf"/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?", HubDouble.repo_info),
    ("GET", rf"/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?", HubDouble.tree),
    ("POST", rf"/api/models/{_REPO}/preupload/(?P<rev>[^/]+)", HubDouble.preupload),
    ("POST", rf"/api/models/{_REPO}/commit/(?P<rev>[^/]+)", HubDouble.commit),
    ("POST", rf"/{_REPO}\.git/info/lfs/objects/batch", HubDouble.lfs_batch),
    ("POST", rf"/{_REPO}\.git/info/lfs/objects/verify", HubDouble.lfs_verify),
    ("PUT", r"/storage/(?P<oid>[0-9a-f]{64})", HubDouble.storage_put),
    ("HEAD|GET", rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", HubDouble.resolve),
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects; every answer carries a Content-Length

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.hub._request_timeout)  # a stuck client cannot hang the double

    def body(self) -> bytes:
        if getattr(self, "_body", None) is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                self._body = b"".join(chunks)
            else:
                self._body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        return self._body

    def _answer(self) -> None:
        hub: HubDouble = self.server.hub
        self._body = None
        try:
            try:
                status, headers, payload = hub.handle(self)
            except Rejected:
                raise
            except Exception as error:  # a bug in the double: a 400 (a 5xx would make the client retry for long)
                raise Rejected(400, f"the Hub double failed: {error!r}") from error
        except Rejected as error:
            status, payload = error.status, json.dumps({"error": error.message}).encode()
            headers = {"Content-Type": "application/json", "X-Error-Message": error.message}
            if error.code:
                headers["X-Error-Code"] = error.code
            if error.mistake:
                with hub._lock:
                    hub.rejected.append(f"{self.command} {self.path}: {error.message}")
        self.body()  # drain what the client sent, so the connection can be reused
        with hub._lock:
            hub.requests.append((self.command, urlsplit(self.path).path, status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


# --- model card metadata, as the Hub reads it ----------------------------------------------------------------------


def card_metadata_errors(text: str) -> list[str]:
    """What the Hub would reject or misread in a README's YAML metadata block (empty list: fine)."""
    if not text.startswith("---\n"):
        return ["the card has no YAML metadata block"]
    end = text.find("\n---\n", 4)
    if end < 0:
        return ["the YAML metadata block is not closed"]
    try:
        metadata = yaml.safe_load(text[4:end])
    except yaml.YAMLError as error:
        return [f"metadata is not valid YAML: {error}"]
    if not isinstance(metadata, dict):
        return ["metadata must be a mapping"]
    errors = []
    for key in ("license", "library_name", "pipeline_tag", "base_model"):
        if key in metadata and not isinstance(metadata[key], str):
            errors.append(f"{key} must be a string")
    if "pipeline_tag" in metadata and metadata["pipeline_tag"] not in PIPELINE_TAGS:
        errors.append(f"unknown pipeline_tag {metadata['pipeline_tag']!r}")
    for key in ("tags", "datasets", "language"):
        value = metadata.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            errors.append(f"{key} must be a list of strings")
    for entry in metadata.get("model-index", []) or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            errors.append("each model-index entry needs a name")
            continue
        for result in entry.get("results") or []:
            task, dataset = result.get("task") or {}, result.get("dataset") or {}
            if not isinstance(task.get("type"), str):
                errors.append("model-index: task.type is required")
            if not (isinstance(dataset.get("type"), str) and isinstance(dataset.get("name"), str)):
                errors.append("model-index: dataset.type and dataset.name are required")
            metrics = result.get("metrics")
            if not metrics or not all(
                isinstance(m, dict) and isinstance(m.get("type"), str) and isinstance(m.get("value"), int | float)
                for m in metrics
            ):
                errors.append("model-index: each result needs metrics with a type and a numeric value")
    return errors


def _card_metadata(readme: Blob | None) -> dict:
    if readme is None or card_metadata_errors(readme.content.decode()):
        return {}
    text = readme.content.decode()
    return yaml.safe_load(text[4 : text.find("\n---\n", 4)])


# --- helpers -------------------------------------------------------------------------------------------------------


def _json(data: Any, status: int = 200, content_type: str = "application/json") -> tuple[int, dict, bytes]:
    return status, {"Content-Type": content_type}, json.dumps(data).encode()


def _json_body(request: _Handler, required: set[str], optional: set[str] = frozenset()) -> dict:
    try:
        body = json.loads(request.body() or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Rejected(400, f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise Rejected(400, "body must be a JSON object")
    missing, unknown = required - set(body), set(body) - required - set(optional)
    if missing or unknown:
        raise Rejected(400, f"missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    return body


def _check_query(query: dict[str, list[str]], allowed: set[str]) -> None:
    unknown = set(query) - allowed
    if unknown:
        raise Rejected(400, f"unknown query parameters {sorted(unknown)}")


def _repo_path(path: Any) -> str:
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise Rejected(400, f"invalid path in repo {path!r}")
    return path


def _b64decode(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise Rejected(400, f"{what} is not base64") from None


def _file_entry(blob: Blob) -> dict:
    entry: dict[str, Any] = {"type": "file", "oid": blob.git_oid, "size": len(blob.content)}
    if blob.lfs:
        entry["lfs"] = {"oid": blob.sha256, "size": len(blob.content), "pointerSize": 134}
    return entry


def _folder_oid(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()


def _commit_oid() -> str:
    return secrets.token_hex(20)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
