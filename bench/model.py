"""What a bench run measures and holds: the runtimes compared, the plan of a run, the results. Shared by the runs
(runs.py, streams.py, lmi.py) and the report, which import it and nothing of each other's."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "bench" / "functions"


@dataclass(frozen=True, slots=True)
class Runtime:
    key: str
    label: str
    prefix: tuple[str, ...]

    def command(self, handler: str) -> list[str]:
        return [*self.prefix, handler]


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int
    loop_n: int  # no-op invocations per run: critical path, gap, throughput, CPU, memory
    rss_early: int  # the early RSS checkpoint (the others: half-way and after loop_n)
    big_n: int  # invocations with the 100 KB event
    paced_n: int  # invocations with 200 ms of work, and of the paced no-op reference
    cold_starts: int  # per runtime, trivial handler
    boto3_starts: int  # per runtime, handler importing boto3
    lmi16_n: int = 600  # invocations per configuration of the N=16 multi-concurrency rows (2 s at 300/s)

    @property
    def skip(self) -> int:
        """Invocations left out of the steady-state statistics (first-call imports, caches)."""
        return 10


FULL = Plan(rounds=5, loop_n=10_000, rss_early=1_000, big_n=2_000, paced_n=20, cold_starts=20, boto3_starts=20)
QUICK = Plan(rounds=1, loop_n=4_000, rss_early=400, big_n=200, paced_n=4, cold_starts=3, boto3_starts=3, lmi16_n=300)


@dataclass(slots=True)
class Results:
    """Samples by (metric, runtime): one per round for loop metrics, one per start for cold starts."""

    samples: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    plan: Plan = QUICK
    started: float = 0.0
    elapsed_s: float = 0.0
    extensions: dict[str, tuple[int, int]] = field(default_factory=dict)  # (registered, INVOKE-subscribed)
    pinned: str = ""
    notes: list[str] = field(default_factory=list)
    tree: str = ""  # commit and state of the code under test
    code_hashes: list[str] = field(default_factory=list)  # of runtime/ and bootstrap, at the start and the end
    load: list[tuple[float, float, float]] = field(default_factory=list)  # load averages, start and end

    def add(self, metric: str, runtime: str, value: float) -> None:
        self.samples[(metric, runtime)].append(value)

    def get(self, metric: str, runtime: str) -> list[float]:
        return self.samples.get((metric, runtime), [])

    def to_json(self) -> str:
        return json.dumps(
            {
                "plan": self.plan.__repr__(),
                "elapsed_s": self.elapsed_s,
                "pinned": self.pinned,
                "tree": self.tree,
                "code_hashes": self.code_hashes,
                "load": self.load,
                "extensions": self.extensions,
                "samples": {f"{m}/{r}": v for (m, r), v in sorted(self.samples.items())},
            },
            indent=1,
        )


def api_gateway_event() -> dict[str, object]:
    """An API Gateway HTTP API (payload 2.0) request as Lambda delivers it: ~1.5 KB."""
    return {
        "version": "2.0",
        "routeKey": "GET /orders/{id}",
        "rawPath": "/orders/o-1234",
        "rawQueryString": "expand=items&currency=EUR",
        "cookies": ["session=eyJhbGciOiJIUzI1NiJ9.abc", "theme=dark"],
        "headers": {
            "accept": "application/json", "accept-encoding": "gzip, deflate, br", "accept-language": "en-GB,en;q=0.9",
            "authorization": "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIn0.sig",
            "content-length": "0", "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0",
            "x-amzn-trace-id": "Root=1-65a1b2c3-1234567890abcdef12345678", "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443", "x-forwarded-proto": "https",
        },
        "queryStringParameters": {"expand": "items", "currency": "EUR"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123", "requestId": "Rj0-ZhL5joEEJ4w=", "routeKey": "GET /orders/{id}",
            "stage": "$default", "time": "01/Dec/2026:04:40:00 +0000", "timeEpoch": 1796100000000,
            "authorizer": {"jwt": {"claims": {"sub": "user-42", "scope": "orders:read"}, "scopes": ["orders:read"]}},
            "http": {"method": "GET", "path": "/orders/o-1234", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"},
        },
        "pathParameters": {"id": "o-1234"},
        "isBase64Encoded": False,
    }  # fmt: skip
