"""What the after-response phase reports: one summary log record per invocation, and optional EMF metrics."""

from __future__ import annotations

import time

from . import logs
from .marshal import to_json
from .phase import PhaseReport


class PhaseObserver:
    def __init__(self, emf: bool, namespace: str, function_name: str | None, worker: int | None = None) -> None:
        self._emf = emf
        self._namespace = namespace
        self._function_name = function_name or "unknown"
        #: the worker process's index on Lambda Managed Instances; None with one process
        self._worker = worker

    def __call__(self, report: PhaseReport) -> None:
        ran = len(report.items) - report.count("skipped")
        failed = report.count("failed")
        log = logs.runtime_logger()
        if log.isEnabledFor(20):
            items = ", ".join(f"{name} {outcome} {ms:.1f} ms" for name, outcome, ms in report.items)
            log.info(
                "after-response: %d ran, %d failed, %d skipped, %d timed out in %.1f ms (%s)",
                ran,
                failed,
                report.count("skipped"),
                report.count("timed_out"),
                report.duration_ms,
                items,
                extra={
                    "afterResponse": {
                        "ran": ran,
                        "failed": failed,
                        "skipped": report.count("skipped"),
                        "timedOut": report.count("timed_out"),
                        "durationMs": round(report.duration_ms, 3),
                        "items": [{"name": n, "outcome": o, "durationMs": round(d, 3)} for n, o, d in report.items],
                        **({"worker": self._worker} if self._worker is not None else {}),
                    }
                },
            )
        if self._emf:
            self._write_emf(report.duration_ms, failed + report.count("timed_out"))

    def _write_emf(self, duration_ms: float, failures: int) -> None:
        # CloudWatch Embedded Metric Format: one JSON log line becomes two metrics, no API call needed.
        document = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [["FunctionName"]],
                        "Metrics": [
                            {"Name": "AfterResponseDuration", "Unit": "Milliseconds"},
                            {"Name": "AfterResponseFailures", "Unit": "Count"},
                        ],
                    }
                ],
            },
            "FunctionName": self._function_name,
            # A property, not a dimension: per-worker figures without a metric per worker.
            **({"Worker": self._worker} if self._worker is not None else {}),
            "AfterResponseDuration": round(duration_ms, 3),
            "AfterResponseFailures": failures,
        }
        logs.write_raw(to_json(document).decode("utf-8") + "\n")
