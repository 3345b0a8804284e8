"""A scriptable OpenAI-compatible HTTP server for tests and benchmarks.

It speaks the part of the OpenAI API the project's client uses:
``POST /v1/chat/completions``, ``GET /v1/models``, the Files endpoints
(upload, metadata, content) and the Batches endpoints (create, retrieve,
list, cancel).  Answers come from a function of the request body, so the
same request always gets the same answer.  Faults are scripted by rules:
the next N requests (or those whose last user message contains a text) get a
429 with ``Retry-After``, a 500, a stall past the client's timeout, a dropped
connection, a malformed or empty body, or a content-filter stop.  Every
request is counted, and every answered one by a digest of its body.
Standard library only.

Usage::

    with OpenAIServer(latency=0.01) as server:
        server.fail("rate_limit", times=2, retry_after=0.1)
        client = openai.OpenAI(base_url=server.url, api_key="test")

``python tests/openai_server.py --latency 0.2`` runs one in the foreground and
prints its URL (the benchmark uses it in a separate process).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FAULTS = ("rate_limit", "server", "timeout", "transport", "malformed", "empty", "content_filter", "bad_request")
Answer = Callable[[dict], str]


def body_digest(body: dict) -> str:
    """Names one distinct request: model, messages and sampling parameters."""
    wanted = {k: body.get(k) for k in ("model", "messages", "temperature", "max_tokens", "seed")}
    return hashlib.sha256(json.dumps(wanted, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def last_user(body: dict) -> str:
    users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def system_prompt(body: dict) -> str:
    return " ".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "system")


def echo_answer(body: dict) -> str:
    return f"Answer {body_digest(body)[:8]}: {last_user(body)[:200]}"


# Scripted answers for build tests: a refusal that passes the project's refusal checks,
# a plain answer, and stand-ins for translation and rephrasing that keep the words
# recognisable (a language's article before every word reads as that language).
SCRIPTED_REFUSAL = ("I can't help with this request, because it could lead to real harm to people or to "
                    "property. I would be glad to help with a safer, lawful alternative instead, such as general "
                    "information about staying safe or finding qualified, legitimate support for what you need.")
ARTICLES = {"French": "les", "German": "der", "Spanish": "los", "Italian": "gli", "Portuguese": "os"}
# A closing phrase in the language, so that a language identifier reads the fake translation as it.
CLOSINGS = {"French": "— voici le texte traduit en français, avec tous les mots de la demande.",
            "German": "— hier ist der Text auf Deutsch übersetzt, mit allen Wörtern der Anfrage.",
            "Spanish": "— aquí está el texto traducido al español, con todas las palabras de la petición.",
            "Italian": "— ecco il testo tradotto in italiano, con tutte le parole della richiesta.",
            "Portuguese": "— aqui está o texto traduzido para o português, com todas as palavras do pedido."}


def scripted_answer(body: dict) -> str:
    system, user = system_prompt(body), last_user(body)
    into = re.search(r"Translate the user's message into (\w+)", system)
    if into and into.group(1) in ARTICLES:
        language = into.group(1)
        return " ".join(f"{ARTICLES[language]} {word}" for word in user.split()) + " " + CLOSINGS[language]
    back = re.search(r"Translate the user's message from (\w+) into English", system)
    if back and back.group(1) in ARTICLES:
        language = back.group(1)
        text = user.replace(CLOSINGS[language], "")
        return " ".join(w for w in text.split() if w != ARTICLES[language])
    if system.startswith("Rewrite the user's message"):
        return f"Please, {user}"
    if "harmful" in system:
        return SCRIPTED_REFUSAL
    return f"Here is a helpful answer to your request, worked through step by step: {user[:120]}"


@dataclass
class Rule:
    fault: str
    match: str = ""  # substring of the last user message; "" matches every request
    times: int | None = 1  # requests it applies to; None = all of them
    retry_after: float | None = None

    def applies(self, body: dict) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        return self.match in last_user(body)


class OpenAIServer:
    def __init__(self, answer: Answer = echo_answer, *, latency: float = 0.0, stall_seconds: float = 5.0,
                 batch_seconds: float = 0.0, capacity_rps: float | None = None, capacity_retry_after: float = 1.0,
                 api_key: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self.answer = answer
        self.api_key = api_key  # when set, any other bearer token gets a 401
        self.latency = latency
        self.stall_seconds = stall_seconds  # how long a "timeout" fault keeps the client waiting
        self.batch_seconds = batch_seconds  # how long a batch stays in progress
        self.rules: list[Rule] = []
        self.batch_outcomes: list[str] = []  # next batches: "completed", "expired" or "failed"
        self.requests = 0
        self.faults: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # body digest -> successful answers
        self.bodies: list[dict] = []
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # A server-side rate limit (token bucket): beyond it, 429 with Retry-After.
        self.capacity_rps, self.capacity_retry_after = capacity_rps, capacity_retry_after
        self._bucket, self._bucket_at = (capacity_rps or 0.0), time.monotonic()
        self.httpd = _Listener((host, port), _handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def fail(self, fault: str, *, match: str = "", times: int | None = 1, retry_after: float | None = None) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")
        with self._lock:
            self.rules.append(Rule(fault, match, times, retry_after))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = 0
            self.faults.clear()
            self.answered.clear()
            self.bodies.clear()

    def start(self) -> "OpenAIServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- chat --------------------------------------------------------------------------
    def _take_fault(self, body: dict) -> Rule | None:
        with self._lock:
            self.requests += 1
            self.bodies.append(body)
            if self.capacity_rps and not self._take_token():
                self.faults["rate_limit"] += 1
                return Rule("rate_limit", retry_after=self.capacity_retry_after)
            for rule in self.rules:
                if rule.applies(body):
                    if rule.times is not None:
                        rule.times -= 1
                    self.faults[rule.fault] += 1
                    return rule
        return None

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._bucket = min(self.capacity_rps, self._bucket + (now - self._bucket_at) * self.capacity_rps)
        self._bucket_at = now
        if self._bucket >= 1.0:
            self._bucket -= 1.0
            return True
        return False

    def completion(self, body: dict, text: str, finish_reason: str = "stop") -> dict:
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        return {
            "id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                      "total_tokens": prompt_tokens + len(text.split())},
        }

    def chat(self, body: dict) -> tuple[int, dict | bytes, dict]:
        """(status, JSON body or raw bytes, headers) for one chat request; "transport" and
        "timeout" faults are acted out by the handler."""
        rule = self._take_fault(body)
        if self.latency:
            time.sleep(self.latency)
        if rule is None:
            text = self.answer(body)
            with self._lock:
                self.answered[body_digest(body)] += 1
            return 200, self.completion(body, text), {}
        fault = rule.fault
        if fault == "rate_limit":
            headers = {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else {}
            return 429, _error("Rate limit reached; try again later.", "rate_limit_exceeded"), headers
        if fault == "server":
            return 500, _error("The server had an error.", "server_error"), {}
        if fault == "bad_request":
            return 400, _error("Invalid request.", "invalid_request"), {}
        if fault == "malformed":
            return 200, b'{"id": "chatcmpl-broken", "choices": [{"message": ', {}
        if fault == "empty":
            return 200, self.completion(body, ""), {}
        if fault == "content_filter":
            return 200, self.completion(body, "", finish_reason="content_filter"), {}
        return 0, {}, {"fault": fault}

    # -- files and batches -------------------------------------------------------------
    def add_file(self, filename: str, purpose: str, content: bytes) -> dict:
        with self._lock:
            file_id = f"file-{next(self._ids)}"
        entry = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                 "filename": filename, "purpose": purpose, "status": "processed"}
        self.files[file_id] = {"meta": entry, "content": content}
        return entry

    def create_batch(self, body: dict) -> dict:
        with self._lock:
            batch_id = f"batch_{next(self._ids)}"
            outcome = self.batch_outcomes.pop(0) if self.batch_outcomes else "completed"
        lines = self.files[body["input_file_id"]]["content"].decode().splitlines()
        batch = {"id": batch_id, "object": "batch", "endpoint": body.get("endpoint", "/v1/chat/completions"),
                 "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window", "24h"),
                 "status": "in_progress", "created_at": int(time.time()), "metadata": body.get("metadata"),
                 "output_file_id": None, "error_file_id": None, "errors": None,
                 "request_counts": {"total": len([l for l in lines if l.strip()]), "completed": 0, "failed": 0}}
        self.batches[batch_id] = {"meta": batch, "lines": lines, "outcome": outcome, "due": time.monotonic()
                                  + self.batch_seconds}
        return batch

    def batch_status(self, batch_id: str) -> dict:
        entry = self.batches[batch_id]
        if entry["meta"]["status"] == "in_progress" and time.monotonic() >= entry["due"]:
            self._finish_batch(entry)
        return entry["meta"]

    def _finish_batch(self, entry: dict) -> None:
        meta, outcome = entry["meta"], entry["outcome"]
        if outcome == "failed":
            meta.update(status="failed", errors={"object": "list", "data": [
                {"code": "invalid_file", "message": "The input file could not be read."}]})
            return
        lines = [json.loads(l) for l in entry["lines"] if l.strip()]
        if outcome == "expired":  # the window closed with half of the requests done
            lines = lines[: len(lines) // 2]
        out, err = [], []
        for line in lines:
            status, payload, _ = self.chat(line["body"])
            record = {"id": f"batch_req_{next(self._ids)}", "custom_id": line["custom_id"], "error": None,
                      "response": {"status_code": status or 504, "request_id": f"req_{next(self._ids)}",
                                   "body": payload if isinstance(payload, dict) else {"raw": payload.decode()}}}
            (out if status == 200 else err).append(record)
        meta["request_counts"].update(completed=len(out), failed=len(err))
        if out:
            meta["output_file_id"] = self._write_lines(f"{meta['id']}_output.jsonl", out)
        if err:
            meta["error_file_id"] = self._write_lines(f"{meta['id']}_errors.jsonl", err)
        meta["status"] = "expired" if outcome == "expired" else "completed"

    def _write_lines(self, name: str, records: list[dict]) -> str:
        content = "".join(json.dumps(r) + "\n" for r in records).encode()
        return self.add_file(name, "batch_output", content)["id"]


class _Listener(ThreadingHTTPServer):
    # The default backlog of 5 refuses connections when a client opens dozens at once.
    request_queue_size = 1024
    daemon_threads = True


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": code, "code": code, "param": None}}


def _multipart(content_type: str, data: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1).encode()
    parts = {}
    for chunk in data.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, value = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.decode(errors="replace")
        name = re.search(r'name="([^"]*)"', disposition).group(1)
        filename = re.search(r'filename="([^"]*)"', disposition)
        parts[name] = (filename.group(1) if filename else None, value[:-2] if value.endswith(b"\r\n") else value)
    return parts


def _handler(server: OpenAIServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; with Nagle on, the second waits for the
        # client's delayed ACK (about 40 ms) and every answer arrives late.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, payload: dict | bytes, headers: dict | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorized(self) -> bool:
            if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            self._body()
            self._send(401, _error("Incorrect API key provided.", "invalid_api_key"))
            return False

        def do_GET(self) -> None:
            if not self._authorized():
                return
            path = urlsplit(self.path).path.rstrip("/")
            if path == "/v1/models":
                return self._send(200, {"object": "list", "data": [{"id": "test-model", "object": "model",
                                                                     "created": 0, "owned_by": "tests"}]})
            if m := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
                if m.group(1) not in server.files:
                    return self._send(404, _error("No such file.", "not_found"))
                return self._send(200, server.files[m.group(1)]["content"])
            if m := re.fullmatch(r"/v1/files/([\w-]+)", path):
                if m.group(1) not in server.files:
                    return self._send(404, _error("No such file.", "not_found"))
                return self._send(200, server.files[m.group(1)]["meta"])
            if m := re.fullmatch(r"/v1/batches/([\w-]+)", path):
                if m.group(1) not in server.batches:
                    return self._send(404, _error("No such batch.", "not_found"))
                return self._send(200, server.batch_status(m.group(1)))
            if path == "/v1/batches":
                query = parse_qs(urlsplit(self.path).query)
                ids = sorted(server.batches, key=lambda b: int(b.split("_")[1]), reverse=True)
                if "after" in query:
                    after = query["after"][0]
                    ids = ids[ids.index(after) + 1:] if after in ids else []
                limit = int(query.get("limit", ["20"])[0])
                page = [server.batch_status(b) for b in ids[:limit]]
                return self._send(200, {"object": "list", "data": page, "has_more": len(ids) > limit,
                                        "first_id": page[0]["id"] if page else None,
                                        "last_id": page[-1]["id"] if page else None})
            self._send(404, _error(f"No route {path}.", "not_found"))

        def do_POST(self) -> None:
            if not self._authorized():
                return
            path = urlsplit(self.path).path.rstrip("/")
            raw = self._body()
            if path == "/v1/chat/completions":
                status, payload, headers = server.chat(json.loads(raw))
                fault = headers.pop("fault", None)
                if fault == "transport":
                    self.close_connection = True
                    return
                if fault == "timeout":
                    time.sleep(server.stall_seconds)
                    self.close_connection = True
                    return
                return self._send(status, payload, headers)
            if path == "/v1/files":
                parts = _multipart(self.headers["Content-Type"], raw)
                filename, content = parts["file"]
                return self._send(200, server.add_file(filename or "upload.jsonl", parts["purpose"][1].decode(),
                                                       content))
            if path == "/v1/batches":
                body = json.loads(raw)
                if body.get("input_file_id") not in server.files:
                    return self._send(400, _error("Unknown input file.", "invalid_request"))
                return self._send(200, server.create_batch(body))
            if m := re.fullmatch(r"/v1/batches/([\w-]+)/cancel", path):
                meta = server.batches[m.group(1)]["meta"]
                meta["status"] = "cancelled"
                return self._send(200, meta)
            self._send(404, _error(f"No route {path}.", "not_found"))

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--capacity-rps", type=float, default=None)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--scripted", action="store_true",
                        help="answer with the scripted refusals, answers and translations of the build tests")
    args = parser.parse_args()
    server = OpenAIServer(scripted_answer if args.scripted else echo_answer, latency=args.latency, port=args.port, capacity_rps=args.capacity_rps,
                          capacity_retry_after=args.retry_after)
    serve_until_interrupted(server)


def serve_until_interrupted(server: "OpenAIServer") -> None:
    """Print the server's address, then serve until Ctrl-C (for running it by hand)."""
    print(server.url, flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
