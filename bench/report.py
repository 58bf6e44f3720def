"""Markdown tables from the JSON lines of ``bench.hotpath`` and ``bench.profile`` (for bench/README.md).

    .venv/bin/python -m bench.report results.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _errors(line: dict[str, Any]) -> str:
    parts = []
    for c, figures in line["gateway"].items():
        e = figures["errors"]
        if any(e.values()):
            parts.append(f"c={c}: " + ", ".join(f"{v} {k}" for k, v in e.items() if v))
    return "; ".join(parts) or "0"


def hotpath(lines: list[dict[str, Any]]) -> list[str]:
    if not any(x.get("bench") == "hotpath" for x in lines):
        return []
    out = ["| mode, surface | req/s c=1 / 8 / 32 (direct) | overhead p50 / p99 c=1 | CPU per request c=1 / 8 / 32 "
           "| first chunk overhead p50 | 200-chunk stream, direct → gateway | API peak RSS (after) | errors |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for line in lines:
        if line.get("bench") != "hotpath" or "surface" not in line:
            continue
        rps, cpu, stream = line["rps"], line["cpu_ms_per_request"], line["stream"]
        conns = list(rps["gateway"])
        cpu_text = " / ".join(f"{cpu[c]['gateway']:.1f}" for c in conns) + " ms"
        if "postgres_db" in cpu[conns[-1]]:
            top = cpu[conns[-1]]
            cpu_text += (f" (at {conns[-1]}: serve {top['serve']:.1f} + worker {top['worker']:.1f} + project "
                         f"{top['project']:.1f}; PostgreSQL {top['postgres_db']:.1f} (cluster "
                         f"{top['postgres_cluster']:.1f}), NATS {top['nats']:.1f})")
        gateway_rps = " / ".join(f"{rps['gateway'][c]:,.0f}" for c in conns)
        direct_rps = " / ".join(f"{rps['direct'][c]:,.0f}" for c in conns)
        out.append(
            f"| {line['mode']}, `{line['surface']}` | {gateway_rps} ({direct_rps}) "
            f"| {line['overhead_ms']['p50']:.1f} / {line['overhead_ms']['p99']:.1f} ms | {cpu_text} "
            f"| +{stream['ttfc_overhead_p50_ms']:.1f} ms "
            f"| {stream['direct']['total_p50_ms']:.1f} → {stream['gateway']['total_p50_ms']:.1f} ms "
            f"({stream['total_ratio']}×; {stream['cpu_ms_per_request']['gateway']:.0f} ms CPU) "
            f"| {line['memory_mb']['api_peak']:.0f} MB ({line['memory_mb']['api_rss']:.0f}) | {_errors(line)} |")
    history = [x for x in lines if x.get("measure") == "history"]
    if history:
        out += ["", "| mode | req/s c=8, fresh → after N requests | CPU per request fresh → after | N |",
                "| --- | --- | --- | --- |"]
        for line in history:
            out.append(f"| {line['mode']} | {line['rps_fresh']:.0f} → {line['rps_after']:.0f} "
                       f"({line['after_over_fresh']:.2f}×) | {line['cpu_ms_per_request_fresh']:.1f} → "
                       f"{line['cpu_ms_per_request_after']:.1f} ms | {line['after_requests']:,} in "
                       f"{line['drive_s']:.0f} s |")
    return out


def profile_totals(lines: list[dict[str, Any]], top: int = 14) -> list[str]:
    """Each mode's stages summed over its processes (one request's cost in all of them)."""
    out = []
    runs: dict[tuple[str, float], dict[str, int]] = {}
    for line in lines:
        if line.get("bench") == "profile" and "stages" in line:
            totals = runs.setdefault((line["mode"], line.get("preload_s", 0)), {})
            for stage, figures in line["stages"].items():
                name = f"{stage} [{line['process']}]" if stage.startswith("outside the GIL") else stage
                totals[name] = totals.get(name, 0) + figures["us"]
    for (mode, preload), totals in runs.items():
        out += ["", f"{mode} (preload {preload:.0f} s), all processes: {sum(totals.values()):,} µs per request",
                "", "| stage | µs per request |", "| --- | --- |"]
        out += [f"| {stage} | {us:,} |" for stage, us in sorted(totals.items(), key=lambda x: -x[1])[:top]]
    return out


def profile(lines: list[dict[str, Any]], top: int = 12) -> list[str]:
    out = []
    for line in lines:
        if line.get("bench") != "profile" or "stages" not in line:
            continue
        out += ["", f"{line['mode']} `{line['process']}` ({line['surface']}, c={line['connections']}, "
                    f"{line['rps']:.0f} req/s, preload {line.get('preload_s', 0):.0f} s): "
                    f"{line['cpu_ms_per_request'] * 1000:,.0f} µs CPU per request, {line['samples']} samples",
                "", "| stage | µs per request | share of GIL samples |", "| --- | --- | --- |"]
        stages = list(line["stages"].items())
        shown = stages[:top] + [x for x in stages[top:] if x[1]["share"] is None]  # always the outside-GIL line
        for stage, figures in shown:
            share = "" if figures["share"] is None else f"{figures['share']:.1%}"
            out.append(f"| {stage} | {figures['us']:,} | {share} |")
    services = [x for x in lines if x.get("bench") == "profile" and x.get("process") == "services"]
    for line in services:
        out.append(f"\n{line['mode']}, beside it: " + ", ".join(f"{k} {v:.1f} ms"
                                                              for k, v in line["cpu_ms_per_request"].items()))
    return out


def main() -> None:
    lines = [json.loads(x) for path in sys.argv[1:] for x in open(path) if x.startswith("{")]
    print("\n".join(hotpath(lines) + profile_totals(lines) + profile(lines)))


if __name__ == "__main__":
    main()
