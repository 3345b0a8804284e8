"""Throughput of builders.llm.Client against the local OpenAI-compatible server.

Three measurements, each beside a plain ``asyncio.gather`` (a semaphore at the
same concurrency) over the same ``openai.AsyncOpenAI`` client, in the same run:

1. steady state: requests/s at concurrency C against a server answering after
   L seconds, as a share of the bound C / L;
2. a 429 storm: the server admits R requests/s and answers the rest 429 with
   ``Retry-After``; successful requests/s and how many were lost;
3. a fully cached rerun: seconds for N requests that are all in the store.

The server runs in its own process (tests/openai_server.py), so that its
threads do not compete with the client for the interpreter.

    python bench/llm.py                      # about a minute
    python bench/llm.py --requests 640 --cached 5000   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builders.llm import Client, LLMConfig, Request  # noqa: E402
from builders.llm.client import http_client  # noqa: E402


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_server.py"), *args],
                               stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def requests(n: int, tag: str) -> list[Request]:
    return [Request(({"role": "user", "content": f"Say hello to number {i} ({tag})."},), "bench@v1")
            for i in range(n)]


def ours(url: str, reqs: list[Request], concurrency: int, cache: Path, **extra) -> tuple[float, int, dict]:
    client = Client(LLMConfig(model="bench", base_url=url, concurrency=concurrency, cache_path=cache, **extra),
                    progress=False)
    started = time.perf_counter()
    results = client.run(reqs)
    seconds = time.perf_counter() - started
    client.close()
    return seconds, sum(r.ok for r in results), client.stats()


def plain(url: str, reqs: list[Request], concurrency: int, max_retries: int = 0) -> tuple[float, int]:
    async def main() -> tuple[float, int]:
        # The same openai client and HTTP settings as ours: only the scheduling differs.
        api = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=max_retries,
                                 http_client=http_client(concurrency))
        gate = asyncio.Semaphore(concurrency)

        async def one(request: Request) -> bool:
            async with gate:
                try:
                    await api.chat.completions.create(model="bench", messages=list(request.messages),
                                                      temperature=0.0, max_tokens=512)
                    return True
                except openai.APIError:
                    return False

        started = time.perf_counter()
        done = await asyncio.gather(*(one(r) for r in reqs))
        seconds = time.perf_counter() - started
        await api.close()
        return seconds, sum(done)

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1920)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--storm-requests", type=int, default=1000)
    parser.add_argument("--storm-rps", type=float, default=100.0)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--cached", type=int, default=20000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    rows = []

    server, url = start_server("--latency", str(args.latency))
    try:
        bound = args.concurrency / args.latency
        seconds, ok, _ = ours(url, requests(args.requests, "steady"), args.concurrency, work / "steady.sqlite")
        ours_rps = ok / seconds
        seconds, ok_plain = plain(url, requests(args.requests, "steady-plain"), args.concurrency)
        plain_rps = ok_plain / seconds
        rows.append(("steady state", f"{ours_rps:.1f} req/s = {ours_rps / bound:.1%} of {bound:.0f}",
                     f"{plain_rps:.1f} req/s = {plain_rps / bound:.1%}", f"{ours_rps / plain_rps:.2f}"))
    finally:
        server.kill()

    server, url = start_server("--latency", "0.05", "--capacity-rps", str(args.storm_rps),
                               "--retry-after", str(args.retry_after))
    try:
        seconds, ok, stats = ours(url, requests(args.storm_requests, "storm"), args.concurrency,
                                  work / "storm.sqlite")
        ours_rps = ok / seconds
        time.sleep(args.retry_after)
        seconds_plain, ok_plain = plain(url, requests(args.storm_requests, "storm-plain"), args.concurrency,
                                        max_retries=2)
        plain_rps = ok_plain / seconds_plain
        rows.append(("429 storm", f"{ours_rps:.1f} req/s of {args.storm_rps:.0f} admitted, "
                                  f"{args.storm_requests - ok} lost, {stats['failures'].get('rate_limit', 0)} 429s",
                     f"{plain_rps:.1f} req/s, {args.storm_requests - ok_plain} lost (openai retries: 2)",
                     f"{ours_rps / plain_rps:.2f}"))
    finally:
        server.kill()

    cached = requests(args.cached, "cached")
    server, url = start_server()
    try:
        ours(url, cached, args.concurrency, work / "cached.sqlite")
        seconds, ok, stats = ours(url, cached, args.concurrency, work / "cached.sqlite")
        assert stats["requests"] == 0 and ok == args.cached
        seconds_plain, _ = plain(url, cached, args.concurrency)
        rows.append(("fully cached rerun", f"{args.cached} requests in {seconds:.2f} s "
                                           f"({seconds / args.cached * 1e6:.0f} us each), 0 sent",
                     f"{seconds_plain:.2f} s sending them all (server without latency)",
                     f"{seconds_plain / seconds:.1f}"))
    finally:
        server.kill()

    print("| measurement | builders.llm.Client | plain asyncio.gather | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
