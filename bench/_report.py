"""Turn measured blocks into per-target figures, target checks, and markdown tables."""

from __future__ import annotations

from _stats import fmt, fmt_ratio, linear_fit, percentile, ratio

FLOOR, MITM = "direct", "mitm"


def _ok(blocks: list[dict]) -> list[list]:
    return [r for b in blocks for r in b["results"] if r[3] is None]


def _latency(prefix: str, blocks: list[dict], out: dict) -> None:
    ok = _ok(blocks)
    for i, name in enumerate(("ttfb", "first", "total")):
        values = [r[i] for r in ok]
        out[f"{prefix}_{name}_p50"] = percentile(values, 50)
        out[f"{prefix}_{name}_p95"] = percentile(values, 95)
        out[f"{prefix}_{name}_p99"] = percentile(values, 99)
    out[f"{prefix}_requests"] = sum(b["requests"] for b in blocks)
    out[f"{prefix}_errors"] = sum(b["errors"] for b in blocks)
    errors = [b["first_error"] for b in blocks if b["first_error"]]
    out[f"{prefix}_first_error"] = errors[0] if errors else None
    wall = sum(b["wall_s"] for b in blocks)
    out[f"{prefix}_rps"] = len(ok) / wall if wall else None
    cpu_blocks = [b for b in blocks if b["cpu_s"] is not None and b["requests"]]
    if cpu_blocks:
        out[f"{prefix}_cpu_ms"] = 1000 * sum(b["cpu_s"] for b in cpu_blocks) / sum(b["requests"] for b in cpu_blocks)
    else:
        out[f"{prefix}_cpu_ms"] = None


def summarize(targets, blocks, rss_start, rss_peak, rss_hwm, rss_end) -> dict:
    summary: dict[str, dict] = {}
    for target in targets:
        mine = [b for b in blocks if b["target"] == target.name]
        out: dict = {"dialect": target.dialect}
        _latency("seq", [b for b in mine if b["phase"] == "seq"], out)
        _latency("conc", [b for b in mine if b["phase"] == "conc"], out)
        fit_blocks = [b for b in mine if b["phase"] == "fit" and b["requests"]]
        by_chunks: dict[int, dict] = {}
        for chunks in sorted({b["chunks"] for b in fit_blocks}):
            these = [b for b in fit_blocks if b["chunks"] == chunks]
            totals = [r[2] for r in _ok(these)]
            cpu = [b for b in these if b["cpu_s"] is not None]
            by_chunks[chunks] = {"total_p50": percentile(totals, 50), "requests": sum(b["requests"] for b in these),
                                 "errors": sum(b["errors"] for b in these),
                                 "cpu_ms": 1000 * sum(b["cpu_s"] for b in cpu) / sum(b["requests"] for b in cpu) if cpu else None}
        out["fit_by_chunks"] = by_chunks
        points = [(b["chunks"], 1000 * b["cpu_s"] / b["requests"], b["requests"]) for b in fit_blocks if b["cpu_s"] is not None]
        fit = linear_fit([p[0] for p in points], [p[1] for p in points], [p[2] for p in points]) if points else None
        out["fit_fixed_ms"], out["fit_chunk_us"] = (fit[0], fit[1] * 1000) if fit else (None, None)
        lat = [(c, v["total_p50"]) for c, v in by_chunks.items() if v["total_p50"] is not None]
        lat_fit = linear_fit([p[0] for p in lat], [p[1] for p in lat]) if len(lat) > 1 else None
        out["fit_latency_fixed_ms"], out["fit_latency_chunk_us"] = (lat_fit[0], lat_fit[1] * 1000) if lat_fit else (None, None)
        if target.child is not None:
            mb = 1 / 1024
            out["rss_start_mb"] = rss_start.get(target.name, 0) * mb or None
            out["rss_peak_mb"] = max(rss_peak.get(target.name, 0), rss_hwm.get(target.name, 0)) * mb or None
            out["rss_end_mb"] = rss_end.get(target.name, 0) * mb or None
        summary[target.name] = out
    return summary


# ------------------------------------------------------------------ rendering
SEQ = [("TTFB p50", "seq_ttfb_p50"), ("TTFB p95", "seq_ttfb_p95"), ("first delta p50", "seq_first_p50"),
       ("first delta p95", "seq_first_p95"), ("total p50", "seq_total_p50"), ("total p95", "seq_total_p95"),
       ("req/s", "seq_rps")]
CONC = [(label, key.replace("seq_", "conc_")) for label, key in SEQ]
COST = [("CPU ms/req (seq, 100 ch)", "seq_cpu_ms"), ("CPU ms/req (c=50)", "conc_cpu_ms"),
        ("fixed CPU ms/req (fit)", "fit_fixed_ms"), ("CPU µs/chunk (fit)", "fit_chunk_us"),
        ("RSS start MB", "rss_start_mb"), ("RSS peak MB", "rss_peak_mb"), ("RSS end MB", "rss_end_mb")]


def _cell(summary: dict, name: str, key: str) -> str:
    value = summary[name].get(key)
    if value is None:
        return "-"
    parts = [fmt_ratio(ratio(value, summary.get(ref, {}).get(key))) for ref in (FLOOR, MITM)]
    return f"{fmt(value)} ({parts[0]}, {parts[1]})"


def _table(summary: dict, columns: list[tuple[str, str]], extra: list[tuple[str, str]] = ()) -> str:
    head = ["target"] + [label for label, _ in columns] + [label for label, _ in extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in summary:
        cells = [name] + [_cell(summary, name, key) for _, key in columns]
        cells += [str(summary[name].get(key, "-")) for _, key in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fit_table(summary: dict) -> str:
    counts = sorted({c for s in summary.values() for c in s["fit_by_chunks"]})
    head = ["target"] + [f"{c} ch: total p50 ms / CPU ms" for c in counts] + ["fixed CPU ms/req", "CPU µs/chunk",
                                                                              "latency µs/chunk"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summary.items():
        cells = [name]
        for c in counts:
            v = s["fit_by_chunks"].get(c) or {}
            cells.append(f"{fmt(v.get('total_p50'))} / {fmt(v.get('cpu_ms'))}")
        cells += [fmt(s.get("fit_fixed_ms"), 2), fmt(s.get("fit_chunk_us")), fmt(s.get("fit_latency_chunk_us"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def checks(summary: dict) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each goal fcc reports against (they are not asserted)."""
    out = []
    mitm, ccr, litellm = summary.get(MITM, {}), summary.get("ccr"), summary.get("litellm")
    for name in [n for n in summary if n.startswith("fcc")]:
        s = summary[name]

        def verdict(ok: bool | None) -> str:
            return "n/a" if ok is None else ("met" if ok else "MISSED")

        r = ratio(s.get("fit_fixed_ms"), mitm.get("fit_fixed_ms"))
        r100 = ratio(s.get("seq_cpu_ms"), mitm.get("seq_cpu_ms"))
        out.append((f"{name}: CPU per request <= 2x plain mitmdump (fit intercept)",
                    f"{fmt(s.get('fit_fixed_ms'), 2)} ms vs {fmt(mitm.get('fit_fixed_ms'), 2)} ms = {fmt_ratio(r)} "
                    f"(whole 100-chunk request: {fmt_ratio(r100)})", verdict(None if r is None else r <= 2)))
        chunk = s.get("fit_chunk_us")
        out.append((f"{name}: CPU per chunk <= 25 µs (with translation)", f"{fmt(chunk)} µs",
                    verdict(None if chunk is None else chunk <= 25)))
        ttfb, mitm_ttfb = s.get("seq_ttfb_p50"), mitm.get("seq_ttfb_p50")
        added = None if ttfb is None or mitm_ttfb is None else ttfb - mitm_ttfb
        out.append((f"{name}: TTFB added over plain mitmdump <= 2 ms (seq p50)",
                    f"{fmt(ttfb)} vs {fmt(mitm_ttfb)} ms = +{fmt(added)} ms", verdict(None if added is None else added <= 2)))
        rps = ratio(s.get("conc_rps"), mitm.get("conc_rps"))
        out.append((f"{name}: throughput at 50 concurrent streams >= 0.5x plain mitmdump",
                    f"{fmt(s.get('conc_rps'))} vs {fmt(mitm.get('conc_rps'))} req/s = {fmt_ratio(rps)}",
                    verdict(None if rps is None else rps >= 0.5)))
        for peer, factor, label in ((ccr, 2, "ccr"), (litellm, 10, "litellm")):  # total p50 <= 0.5x ccr's, <= 1/10 LiteLLM's
            if peer is None:
                out.append((f"{name}: >= {factor}x faster than {label} (seq total p50)", "peer not measured", "n/a"))
                continue
            speedup = ratio(peer.get("seq_total_p50"), s.get("seq_total_p50"))
            out.append((f"{name}: >= {factor}x faster than {label} (seq total p50)",
                        f"{fmt(s.get('seq_total_p50'))} vs {fmt(peer.get('seq_total_p50'))} ms = {fmt_ratio(speedup)} faster",
                        verdict(None if speedup is None else speedup >= factor)))
            rss, peer_rss = s.get("rss_peak_mb"), peer.get("rss_peak_mb")
            out.append((f"{name}: lower peak RSS than {label}", f"{fmt(rss)} vs {fmt(peer_rss)} MB",
                        verdict(None if rss is None or peer_rss is None else rss < peer_rss)))
        n, errors = s.get("conc_requests") or 0, s.get("conc_errors")
        out.append((f"{name}: no errors at 50 concurrent streams", f"{errors} errors in {n} requests",
                    verdict(None if not n else errors == 0)))
    return out


def render(result: dict) -> str:
    summary = result["summary"]
    m = result["machine"]
    parts = [f"## fcc benchmark, {result['date']} ({result['mode']})",
             f"machine: {m['nproc']} x {m['cpu_model']}, kernel {m['kernel']}, Python {m['python']}, mitmproxy {m['mitmproxy']}"
             + (f", node {m['node']}" if m.get("node") else "")
             + f"; loadavg {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}; took {m['elapsed_s']} s",
             f"fcc: {m.get('fcc_addon', '')} at {m.get('fcc_commit', '?')}",
             ("peers: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items())) if result["versions"] else None,
             "",
             "Cells: value (x direct, x plain mitmdump). Latencies in ms; each stream is 100 chunks with text and 2 tool calls.",
             "",
             "### Sequential (one client, keep-alive)", _table(summary, SEQ, [("errors", "seq_errors"), ("n", "seq_requests")]),
             "", "### 50 concurrent clients", _table(summary, CONC, [("errors", "conc_errors"), ("n", "conc_requests")]),
             "", "### Proxy cost (CPU = utime+stime of the proxy's processes; RSS = VmRSS)", _table(summary, COST),
             "", "### Fixed vs per-chunk cost (sequential; least squares over the chunk counts)", _fit_table(summary),
             "", "### Targets (reported, not asserted)",
             "| goal | measured | verdict |", "|---|---|---|"]
    parts += [f"| {goal} | {measured} | {verdict} |" for goal, measured, verdict in checks(summary)]
    errors = [(n, s.get("seq_first_error") or s.get("conc_first_error")) for n, s in summary.items()
              if s.get("seq_first_error") or s.get("conc_first_error")]
    if errors:
        parts += ["", "### First error per target"] + [f"- {n}: {e}" for n, e in errors]
    if result["notes"]:
        parts += ["", "### Notes"] + [f"- {note}" for note in result["notes"]]
    return "\n".join(p for p in parts if p is not None)
