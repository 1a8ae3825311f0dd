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

    @property
    def skip(self) -> int:
        """Invocations left out of the steady-state statistics (first-call imports, caches)."""
        return 10


FULL = Plan(rounds=5, loop_n=10_000, rss_early=1_000, big_n=2_000, paced_n=20, cold_starts=20, boto3_starts=20)
QUICK = Plan(rounds=1, loop_n=4_000, rss_early=400, big_n=200, paced_n=4, cold_starts=3, boto3_starts=3)


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
