"""The streaming rows, against the project's emulator (the C stub speaks no chunked requests, and RIE buffers
streams): time to first and last byte of 10 chunks 50 ms apart, streamed by this runtime and buffered by awslambdaric
(which cannot stream); and the throughput of a 10 MB stream (this runtime only: over 6 MB, a buffered response is
refused)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping

from emulator.server import LambdaApiServer

from .model import FUNCTIONS, Results, Runtime
from .stats import percentile
from .stub import clean_env


def measure(
    results: Results,
    runtimes: Mapping[str, Runtime],
    env: Mapping[str, str],
    invocations: int,
    progress: Callable[[str], None],
) -> None:
    cases = (
        ("ours", "bench_stream.ten_chunks", "stream_first", "stream_last"),
        ("ric", "bench_stream.ten_chunks_buffered", "stream_first", "stream_last"),
        ("ours", "bench_stream.ten_megabytes", None, "stream_10mb"),
    )
    for key, handler, first_metric, last_metric in cases:
        firsts, lasts, rates = [], [], []
        with LambdaApiServer(timeout_s=60) as api:
            process = subprocess.Popen(
                runtimes[key].command(handler),
                env=clean_env({**env, "AWS_LAMBDA_RUNTIME_API": api.address, "_HANDLER": handler}),
                cwd=FUNCTIONS,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                for _ in range(invocations):
                    request_id = api.submit(b"{}")
                    result = api.result(request_id, 60)
                    api.wait_ended(request_id, 60)
                    dispatched = api.timing(request_id).dispatched_at
                    first = result.chunks[0][0] if result.chunks else result.at
                    firsts.append((first - dispatched) * 1000)
                    lasts.append((result.at - dispatched) * 1000)
                    rates.append(len(result.body) / (1024 * 1024) / max(result.at - first, 1e-9))
            finally:
                process.kill()
                process.wait(10)
        if first_metric:
            results.add(first_metric, key, percentile(firsts[1:], 50))
            results.add(last_metric, key, percentile(lasts[1:], 50))
        else:
            results.add(last_metric, key, percentile(rates[1:], 50))
        progress(f"  streaming {handler:36} {key:5} first byte {percentile(firsts[1:], 50):7.1f} ms, "
                 f"last byte {percentile(lasts[1:], 50):7.1f} ms")  # fmt: skip
