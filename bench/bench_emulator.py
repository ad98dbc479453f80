"""Google emulator throughput: messages.send requests/s beside an empty endpoint on the same server stack.

Each server runs in its own process so the load generator does not share its GIL. The load
generator is a small keep-alive HTTP/1.1 client on asyncio, lighter than the server it drives.

    python bench/bench_emulator.py [--requests 3000] [--connections 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEND_PATH = "/gmail/v1/users/me/messages/send?alt=json"


async def hello_app(scope, receive, send):
    """The baseline: reads the body, answers a fixed small JSON object."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = b'{"id":"0","threadId":"0","labelIds":["SENT"]}'
    headers = [(b"content-type", b"application/json; charset=UTF-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(kind: str, port: int) -> None:
    """Child process: serve the emulator or the baseline app on `port`."""
    from mass_mailer.google_emulator.app import create_app
    from mass_mailer.google_emulator.server import listen_socket
    from mass_mailer.google_emulator.server import serve as run

    run(create_app() if kind == "emulator" else hello_app, listen_socket("127.0.0.1", port))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(kind: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", kind, str(port)])
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, port
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit(f"{kind} server did not start") from None
            time.sleep(0.05)


def sample_request(port: int, token: str) -> bytes:
    """One messages.send request as google-api-python-client sends it, with a small MIME message."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = (
        "bench@example.com",
        "Reader <reader@example.com>",
        "Weekly news",
    )
    message.set_content("Hello reader,\n\nthis week in brief.\n")
    message.add_alternative("<p>Hello reader,</p><p>this week in brief.</p>", subtype="html")
    body = json.dumps({"raw": base64.urlsafe_b64encode(message.as_bytes()).decode()}).encode()
    head = (
        f"POST {SEND_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(port: int, request: bytes, count: int, statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(count):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        statuses.append(int(head[9:12]))
    writer.close()


async def _load(port: int, request: bytes, total: int, connections: int) -> tuple[int, float]:
    """(requests answered, requests/s) for `total` requests over `connections` keep-alive connections."""
    statuses: list[int] = []
    per_connection = total // connections
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, request, per_connection, statuses) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        raise SystemExit(f"port {port}: unexpected statuses {sorted(set(statuses))}")
    return len(statuses), len(statuses) / elapsed


def issue_token(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_emulator/tokens", data=b'{"email": "bench@example.com"}', method="POST"
    )
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())["access_token"]


def delivered(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/stats") as reply:
        return json.loads(reply.read())["total_sent"]


def compare(total: int, connections: int, rounds: int) -> tuple[float, float]:
    """Median requests/s of the baseline and the emulator, measured in alternating rounds."""
    servers = [start_server("hello"), start_server("emulator")]
    try:
        (_, hello_port), (_, emulator_port) = servers
        requests = {
            hello_port: sample_request(hello_port, "none"),
            emulator_port: sample_request(emulator_port, issue_token(emulator_port)),
        }
        rates: dict[int, list[float]] = {hello_port: [], emulator_port: []}
        answered = {hello_port: 0, emulator_port: 0}
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            for round_number in range(rounds + 1):  # round 0 warms up
                for port, request in requests.items():
                    count, rate = runner.run(_load(port, request, total, connections))
                    answered[port] += count
                    if round_number:
                        rates[port].append(rate)
        if delivered(emulator_port) != answered[emulator_port]:
            raise SystemExit(f"the emulator delivered {delivered(emulator_port)} of {answered[emulator_port]} messages")
        for name, port in (("emulator", emulator_port), ("baseline", hello_port)):
            print(f"   {name} rounds (req/s): " + " ".join(f"{rate:.0f}" for rate in rates[port]))
        return statistics.median(rates[hello_port]), statistics.median(rates[emulator_port])
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(timeout=10)


def _loop_factory():
    """uvloop keeps the load generator cheaper than the servers it drives."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    baseline, emulator = compare(args.requests, args.connections, args.rounds)
    print(
        f"emulator send: {emulator:.0f} req/s   baseline (empty endpoint): {baseline:.0f} req/s   "
        f"ratio {emulator / baseline:.2f}   (median of {args.rounds} rounds of {args.requests} requests, "
        f"{args.connections} keep-alive connections)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
