"""The timeline of an invocation: what the caller waited for, and what ran after it got its response."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

# The runtime's summary record: "after-response: 2 ran, ... in 300.5 ms (app.send_event ok 300.3 ms, ...)".
_SUMMARY = re.compile(r"after-response: .* in [\d.]+ ms \((?P<items>.*)\)")
_ITEM = re.compile(r"(?P<name>\S+) (?P<outcome>ok|failed|skipped|timed_out|overran|interrupted) (?P<ms>[\d.]+) ms")


@dataclass(frozen=True)
class Hook:
    name: str
    outcome: str
    duration_ms: float


@dataclass
class Timeline:
    """Milliseconds from the moment the invocation was received; None for a step that did not happen."""

    request_id: str
    #: how long it waited for the previous invocation (its after-response phase too) to end; None: it did not wait
    queued_ms: float | None = None
    cold_start: bool = False
    init_done_ms: float | None = None
    delivered_ms: float | None = None
    response_ms: float | None = None
    next_ms: float | None = None
    ended_ms: float | None = None
    outcome: str = "response"
    hooks: list[Hook] = field(default_factory=list)
    #: a streamed response: when its first byte reached the caller (`response_ms` is the last byte)
    first_byte_ms: float | None = None

    @property
    def phase_ms(self) -> float | None:
        if self.response_ms is None or self.next_ms is None:
            return None
        return self.next_ms - self.response_ms

    def render(self) -> str:
        """The aligned text form, one step a line."""
        rows: list[tuple[float | None, str]] = [(0.0, "invoke received")]
        if self.queued_ms is not None:
            rows.append((self.queued_ms, "previous invocation ended: this one starts (it was queued)"))
        if self.cold_start:
            rows.append((self.init_done_ms, "init done (cold start)"))
        rows.append((self.delivered_ms, "event delivered: /next returned"))
        if self.response_ms is not None and self.first_byte_ms is not None:
            rows.append((self.first_byte_ms, "first byte streamed: the caller starts reading"))
            rows.append((self.response_ms, "last byte streamed: the caller has it all"))
        elif self.response_ms is not None:
            rows.append((self.response_ms, f"{self.outcome} posted: the caller has it"))
        if self.response_ms is not None:
            rows.append((self.response_ms, "after-response phase starts"))
            at: float = self.response_ms
            for hook in self.hooks:
                rows.append((at, f"  {hook.name} ({hook.outcome}, {hook.duration_ms:.1f} ms)"))
                at += hook.duration_ms
            rows.append((self.next_ms, "after-response phase ends: runtime called /next"))
        else:
            rows.append((None, f"no response: {self.outcome}"))
        rows.append((self.ended_ms, "invocation ends"))
        lines = [f"timeline {self.request_id}"]
        for when, text in rows:
            stamp = f"{when:9.1f} ms" if when is not None else "        - ms"
            lines.append(f"  {stamp}  {text}")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line, for `serve`."""
        if self.response_ms is None:
            caller = self.outcome
        elif self.queued_ms is not None:
            # The wait the caller saw, and how much of it was the previous invocation's (its phase, mostly): the
            # part after dispatch alone would hide it.
            caller = (
                f"caller waited {self.response_ms:.1f} ms: queued {self.queued_ms:.1f} ms behind the previous "
                f"invocation, then {self.response_ms - self.queued_ms:.1f} ms"
            )
        else:
            caller = f"caller waited {self.response_ms:.1f} ms"
        phase = f"after-response {self.phase_ms:.1f} ms" if self.phase_ms is not None else "no after-response phase"
        hooks = ", ".join(f"{h.name} {h.duration_ms:.1f} ms" for h in self.hooks)
        cold = " (cold start)" if self.cold_start else ""
        return f"{self.request_id}{cold}: {caller}; {phase}" + (f" [{hooks}]" if hooks else "")


def parse_hooks(line: str) -> list[Hook] | None:
    """The hooks of a runtime summary record, text or JSON; None when the line is not one."""
    if '"afterResponse"' in line:
        try:
            record = json.loads(line)
            return [Hook(i["name"], i["outcome"], float(i["durationMs"])) for i in record["afterResponse"]["items"]]
        except (ValueError, KeyError, TypeError):
            return None
    match = _SUMMARY.search(line)
    if match is None:
        return None
    return [Hook(m["name"], m["outcome"], float(m["ms"])) for m in _ITEM.finditer(match["items"])]


def to_svg(timelines: list[Timeline]) -> str:
    """A picture of one or more timelines: init, the caller's wait, the after-response phase and its hooks."""
    width, left, right, row_height = 900, 150, 110, 70
    end = max([t.ended_ms or t.next_ms or t.response_ms or 1.0 for t in timelines] + [1.0])
    scale = (width - left - right) / end
    height = 40 + row_height * len(timelines) + 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        '<text x="10" y="22" font-size="14" font-weight="bold">'
        "What the caller waits for, and what runs after it has its response</text>",
    ]

    def x(ms: float) -> float:
        return left + ms * scale

    def bar(start: float, stop: float, y: float, colour: str, title: str) -> None:
        out.append(
            f'<rect x="{x(start):.1f}" y="{y}" width="{max((stop - start) * scale, 1.5):.1f}" height="16" '
            f'fill="{colour}"><title>{html.escape(title)}</title></rect>'
        )

    for index, timeline in enumerate(timelines):
        top = 40 + index * row_height
        label = html.escape(timeline.request_id[:8] + (" (cold start)" if timeline.cold_start else ""))
        out.append(f'<text x="10" y="{top + 16}">{label}</text>')
        delivered = timeline.delivered_ms or 0.0
        queued = timeline.queued_ms or 0.0
        if queued:
            bar(0.0, queued, top + 4, "#e0e0e0", f"queued behind the previous invocation {queued:.1f} ms")
        if timeline.cold_start and delivered:
            bar(queued, delivered, top + 4, "#b0b0b0", f"init {delivered - queued:.1f} ms")
        if timeline.response_ms is None:
            continue
        bar(delivered, timeline.response_ms, top + 4, "#2b7bb9", "handler")
        out.append(
            f'<text x="{x(timeline.response_ms) + 5:.1f}" y="{top + 16}" fill="#2b7bb9">'
            f"caller has the response at {timeline.response_ms:.1f} ms</text>"
        )
        at = timeline.response_ms
        phase_end = timeline.next_ms if timeline.next_ms is not None else at
        bar(at, phase_end, top + 26, "#fbe3bd", "after-response phase")
        for hook in timeline.hooks:
            colour = "#d9534f" if hook.outcome != "ok" else "#f0a030"
            bar(at, at + hook.duration_ms, top + 26, colour, f"{hook.name} {hook.duration_ms:.1f} ms")
            if hook.duration_ms * scale > 60:
                out.append(
                    f'<text x="{x(at) + 4:.1f}" y="{top + 38}" font-size="11">'
                    f"{html.escape(hook.name)} {hook.duration_ms:.0f} ms</text>"
                )
            at += hook.duration_ms
        out.append(f'<text x="{x(phase_end) + 5:.1f}" y="{top + 38}" fill="#555">/next at {phase_end:.0f} ms</text>')
    axis_y = height - 44
    out.append(f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" stroke="#999"/>')
    for step in range(5):
        ms = end * step / 4
        out.append(f'<text x="{x(ms):.1f}" y="{axis_y + 14}" text-anchor="middle" fill="#666">{ms:.0f} ms</text>')
    legend_y = height - 8
    for offset, colour, text in (
        (10, "#b0b0b0", "init (cold start)"),
        (140, "#2b7bb9", "handler: the caller waits"),
        (320, "#f0a030", "after-response hooks: the caller already has its response"),
    ):
        out.append(f'<rect x="{offset}" y="{legend_y - 10}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{offset + 14}" y="{legend_y}">{text}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
