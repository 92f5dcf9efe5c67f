#!/usr/bin/env python3
"""Memory and latency of one server process under a login burst and under
slow clients (issue 8, item 7).

Starts examples/agents (release build) on a loopback port with a fresh
SQLite file, then:
1. 2,000 logins at once (each on its own connection, half with the right
   password): peak RSS, and how the answers split between 200/401/429;
2. 2,000 connections that send half a request head and stall: RSS while
   they hang, and how long `/healthz` takes meanwhile.

Run: cargo build --release --example agents && python3 benches/burst_memory.py
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "examples", "agents")
CLIENTS = int(os.environ.get("CLIENTS", "2000"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def memory(pid):
    """(current RSS, peak RSS) in MiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    kib = lambda name: int(fields[name].split()[0]) / 1024
    return kib("VmRSS"), kib("VmHWM")


async def request(port, method, path, body=None, timeout=60):
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    writer.write(head.encode() + b"\r\n" + data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout)
    writer.close()
    return int(answer.split(b" ", 2)[1])


async def main():
    port = free_port()
    database = os.path.join(tempfile.mkdtemp(), "bench.db")
    env = dict(os.environ, FASTSAAS_BIND=f"127.0.0.1:{port}", DATABASE_URL=f"sqlite://{database}?mode=rwc",
               FASTSAAS_AUTH_ATTEMPTS_PER_MINUTE="1000000", RUST_LOG="warn")
    server = subprocess.Popen([BINARY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                if await request(port, "GET", "/healthz", timeout=1) == 200:
                    break
            except OSError:
                await asyncio.sleep(0.1)
        user = {"email": "burst@example.com", "password": "burst password"}
        assert await request(port, "POST", "/users", user) == 201
        idle, _ = memory(server.pid)
        print(f"idle: RSS {idle:.0f} MiB")

        started = time.monotonic()
        logins = [request(port, "POST", "/login", {"email": user["email"],
                  "password": user["password"] if n % 2 == 0 else "wrong password"}) for n in range(CLIENTS)]
        answers = await asyncio.gather(*logins, return_exceptions=True)
        took = time.monotonic() - started
        counts = {}
        for answer in answers:
            key = answer if isinstance(answer, int) else type(answer).__name__
            counts[key] = counts.get(key, 0) + 1
        now, peak = memory(server.pid)
        print(f"{CLIENTS} concurrent logins in {took:.1f} s: answers {counts}; RSS after {now:.0f} MiB, peak {peak:.0f} MiB")

        slow = []
        for _ in range(CLIENTS):
            try:
                stalled = socket.create_connection(("127.0.0.1", port), timeout=2)
                stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: be")
                slow.append(stalled)
            except OSError:
                break
        asked = time.monotonic()
        status = await request(port, "GET", "/healthz", timeout=30)
        waited = time.monotonic() - asked
        now, peak = memory(server.pid)
        print(f"{len(slow)} stalled connections: /healthz {status} in {waited:.2f} s; RSS {now:.0f} MiB, peak {peak:.0f} MiB")
        for stalled in slow:
            stalled.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if not os.path.exists(BINARY):
        sys.exit("build it first: cargo build --release --example agents")
    asyncio.run(main())
