"""From rows to figures: interleaved repeats grouped (min/median/max), ratios per round, the
targets of issue #14 item 3 (met or not, by how much), and the Markdown tables."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks.harness.scenarios import LOADGEN_LIMIT

__all__ = ["evaluate", "group", "ratio", "spread", "to_markdown"]

BASE = "100 subs, 100 in flight, 100 B"
"""The fan-out configuration whose saturation sets the latency rates and the CPU baseline."""


def spread(values: Iterable[float]) -> dict[str, float]:
    v = sorted(values)
    if not v:
        return {"min": float("nan"), "median": float("nan"), "max": float("nan")}
    return {"min": v[0], "median": statistics.median(v), "max": v[-1]}


def group(
    rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(key(row), []).append(row)
    return out


def ratio(
    rows: list[dict[str, Any]],
    peer: str,
    other: str,
    field: str,
    where: Callable[[dict[str, Any]], bool],
) -> dict[str, float] | None:
    """``peer``'s ``field`` over ``other``'s, round by round (rows of one round ran back to
    back), as min/median/max."""
    mine = {r["round"]: r[field] for r in rows if r["peer"] == peer and where(r)}
    theirs = {r["round"]: r[field] for r in rows if r["peer"] == other and where(r)}
    values = [mine[k] / theirs[k] for k in mine if theirs.get(k)]
    return spread(values) if values else None


def _fmt_spread(s: dict[str, float], fmt: str = ",.0f") -> str:
    if s["min"] == s["max"]:
        return format(s["median"], fmt)
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}–{s['max']:{fmt}})"


def _fmt_ratio(r: dict[str, float] | None) -> str:
    if r is None:
        return "–"
    if r["min"] == r["max"]:
        return f"{r['median']:.2f}×"
    return f"{r['median']:.2f}× ({r['min']:.2f}–{r['max']:.2f})"


def _median(rows: list[dict[str, Any]], field: str) -> float:
    values = [r[field] for r in rows if r.get(field) is not None]
    return statistics.median(values) if values else float("nan")


def _delivered(rows: list[dict[str, Any]]) -> str:
    if all(r["delivered_all"] for r in rows):
        return "all"
    missing = sum(r["missing"] for r in rows)
    dups = sum(r["duplicates"] for r in rows)
    closed = sum(r["closed"] for r in rows)
    pending = sum(r.get("pending", 0) for r in rows)
    if missing == dups == closed == 0:
        # In order, nothing lost: the server was still working through its backlog.
        return f"in order; {pending:,} still queued when the wait ended"
    return f"NO: {missing} lost, {pending:,} pending, {dups} duplicated, {closed} closed"


def _loadgen(rows: list[dict[str, Any]]) -> str:
    worst = max(r["loadgen_cpu"] for r in rows)
    flag = " ⚠ over 80 %" if worst > LOADGEN_LIMIT else ""
    return f"{worst:.0%}{flag}"


def _load(rows: list[dict[str, Any]]) -> str:
    values = [r["load_average_1min"] for r in rows]
    return (
        f"{min(values):.1f}–{max(values):.1f}" if min(values) != max(values) else f"{values[0]:.1f}"
    )


def _config_is(key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda row: bool(row["config"] == key)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #14's targets (item 3), each with its measured figure and the margin."""
    fan = results["fanout"]
    lat = results["latency"]
    out: list[dict[str, Any]] = []

    def add(target: str, measured: str, met: bool | None, margin: str) -> None:
        out.append({"target": target, "measured": measured, "met": met, "margin": margin})

    for inflight in (10, 100, 500):
        key = f"100 subs, {inflight} in flight, 100 B"
        r = ratio(fan, "canaux", "node-ws", "deliveries_per_s", _config_is(key))
        if r is None:
            continue
        cpu = ratio(fan, "node-ws", "canaux", "server_us_per_delivery", _config_is(key))
        add(
            f"fan-out ≥ 1.0× Node ws, {inflight} in flight, 100 subscribers",
            f"{_fmt_ratio(r)} (by CPU per delivery: {_fmt_ratio(cpu)})",
            r["median"] >= 1.0,
            f"{(r['median'] - 1) * 100:+.0f} %",
        )
    rates = results.get("rates", {})
    shared = rates.get("shared")
    if shared is not None:
        at = [row for row in lat if row["rate_per_s"] == shared]
        mine = [row for row in at if row["peer"] == "canaux"]
        theirs = [row for row in at if row["peer"] == "node-ws"]
        if mine and theirs:
            p99, ref = _median(mine, "p99_ms"), _median(theirs, "p99_ms")
            add(
                f"p99 at the shared rate ({shared}/s) ≤ 1.2× Node ws's",
                f"{p99:.2f} ms against {ref:.2f} ms ({p99 / ref:.2f}×)",
                p99 <= 1.2 * ref,
                f"{p99 / ref / 1.2 * 100 - 100:+.0f} % from the bound",
            )
        base = [row for row in fan if row["peer"] == "canaux" and row["config"] == BASE]
        if mine and base:
            steady, sat = (
                _median(mine, "server_us_per_delivery"),
                _median(base, "server_us_per_delivery"),
            )
            add(
                "CPU per delivery at the shared rate ≤ 1.5× at saturation",
                f"{steady:.1f} µs against {sat:.1f} µs ({steady / sat:.2f}×)",
                steady <= 1.5 * sat,
                f"{steady / sat / 1.5 * 100 - 100:+.0f} % from the bound",
            )
    key16 = "100 subs, 100 in flight, 16384 B"
    r = ratio(fan, "canaux", "bare", "megabytes_per_s", _config_is(key16))
    if r is not None:
        cpu = ratio(fan, "bare", "canaux", "server_us_per_delivery", _config_is(key16))
        add(
            "16 KB payloads ≥ 1.0× bare websockets (MB/s)",
            f"{_fmt_ratio(r)} (by CPU per delivery: {_fmt_ratio(cpu)})",
            r["median"] >= 1.0,
            f"{(r['median'] - 1) * 100:+.0f} %",
        )
    idle = [row for row in results["idle"] if row["peer"] == "canaux"]
    if idle:
        kib = _median(idle, "kib_per_connection")
        n = idle[0]["connections"]
        note = "" if n >= 10_000 else f" (measured at {n:,}; the target is at 10,000)"
        add(
            "≤ 15 KiB per idle connection at 10,000",
            f"{kib:.1f} KiB at {n:,}{note}",
            kib <= 15 if n >= 10_000 else None,
            f"{kib - 15:+.1f} KiB",
        )
    validation = results.get("validation", [])
    if validation:
        worst = max(validation, key=lambda row: row["valid_us"])
        add(
            "a valid publish's validation ≤ 2 µs (standard channels)",
            ", ".join(f"{row['channel']} {row['valid_us']:.1f} µs" for row in validation),
            all(row["valid_us"] <= 2 for row in validation),
            f"worst {worst['valid_us'] / 2 * 100 - 100:+.0f} % from the bound",
        )
    return out  # fmt: skip


def _fanout_table(rows: list[dict[str, Any]], peers: list[str]) -> list[str]:
    lines = [
        "| configuration | server | deliveries/s median (min–max) | ÷ Node ws | ÷ bare | MB/s "
        "| server CPU | server µs/delivery | Node ws µs ÷ this µs | load generator CPU (max) "
        "| delivered | load avg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for config, at in group(rows, lambda r: r["config"]).items():
        by_peer = group(at, lambda r: r["peer"])
        for peer in peers:
            mine = by_peer.get(peer)
            if not mine:
                continue
            same = _config_is(config)
            lines.append(
                f"| {config} | {peer} | {_fmt_spread(spread(r['deliveries_per_s'] for r in mine))} "
                f"| {_fmt_ratio(ratio(rows, peer, 'node-ws', 'deliveries_per_s', same))} "
                f"| {_fmt_ratio(ratio(rows, peer, 'bare', 'deliveries_per_s', same))} "
                f"| {_median(mine, 'megabytes_per_s'):,.1f} | {_median(mine, 'server_cpu'):.0%} "
                f"| {_median(mine, 'server_us_per_delivery'):.2f} "
                f"| {_fmt_ratio(ratio(rows, 'node-ws', peer, 'server_us_per_delivery', same))} "
                f"| {_loadgen(mine)} | {_delivered(mine)} | {_load(mine)} |"
            )
    return lines


def _latency_table(rows: list[dict[str, Any]], peers: list[str]) -> list[str]:
    lines = [
        "| publishes/s | server | kept up | p50 ms | p99 ms median (min–max) | p99.9 ms "
        "| server CPU | server µs/delivery | load generator CPU (max) | delivered | load avg |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for rate, at in group(rows, lambda r: r["rate_per_s"]).items():
        by_peer = group(at, lambda r: r["peer"])
        for peer in peers:
            mine = by_peer.get(peer)
            if not mine:
                continue
            kept = "yes" if all(r["kept_up"] for r in mine) else "NO (over its saturation)"
            lines.append(
                f"| {rate} | {peer} | {kept} | {_median(mine, 'p50_ms'):.2f} "
                f"| {_fmt_spread(spread(r['p99_ms'] for r in mine), '.2f')} "
                f"| {_median(mine, 'p999_ms'):.2f} | {_median(mine, 'server_cpu'):.0%} "
                f"| {_median(mine, 'server_us_per_delivery'):.2f} | {_loadgen(mine)} "
                f"| {_delivered(mine)} | {_load(mine)} |"
            )
    return lines


def _idle_table(
    rows: list[dict[str, Any]], failures: list[dict[str, Any]], peers: list[str]
) -> list[str]:
    """One line per server: its measured rounds, and a line saying why for each round where
    it could not hold the connections (never a silent gap)."""
    lines = [
        "| server | connections | KiB per connection median (min–max) | s to connect them "
        "| load avg |",
        "|---|---:|---:|---:|---:|",
    ]
    by_peer = group(rows, lambda row: row["peer"])
    failed = group(failures, lambda f: f["peer"])
    for peer in peers:
        mine = by_peer.get(peer)
        if mine:
            took = [x["connect_s"] for x in mine if x.get("connect_s") is not None]
            lines.append(
                f"| {peer} | {mine[0]['connections']:,} "
                f"| {_fmt_spread(spread(x['kib_per_connection'] for x in mine), '.1f')} "
                f"| {_fmt_spread(spread(took), '.0f') if took else '–'} | {_load(mine)} |"
            )
        for f in failed.get(peer, []):
            why = f["error"].replace("|", "/").replace("\n", " ")
            lines.append(
                f"| {peer} | {f['connections']:,} | **not reached** (round {f['round'] + 1}): "
                f"{why} | – | {_load([f]) if 'load_average_1min' in f else '–'} |"
            )
    return lines


def to_markdown(report: dict[str, Any]) -> str:
    r = report["results"]
    m = report["machine"]
    peers = report["peers"]
    pin = report["pinning"]
    lines = [
        f"# Fan-out benchmark, five servers ({report['mode']} mode)",
        "",
        f"- Date: {report['date']}; {report['seconds'] / 60:.0f} min",
        f"- Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, Node {m['node']}, "
        f"Linux {m['kernel']}",
        f"- Command: `{report['command']}`",
        f"- Load average (1 min) at the start {report['load_start'][0]:.2f}, at the end "
        f"{report['load_end'][0]:.2f}; each row gives the range over its repeats. "
        + report["load_note"],
        f"- Pinning: server on core {pin['server_core']}, load generator on core "
        f"{pin['loadgen_core']}, both at nice {pin['nice']}. Load generator: the compiled "
        "epoll client (`benchmarks/harness/loadgen.c`), one process for every client.",
        f"- {report['repeats']} interleaved rounds (every server once per round, the order "
        "rotated); a figure is the median with (min–max); a ratio is taken round by round. "
        f"Windows of {report['window_s']} s (latency {report['latency_window_s']} s) after "
        "0.5 s of warm-up publishing.",
        "",
        "Every row checks that every publish reached every subscriber once and in order "
        '("delivered"), and gives the load generator\'s CPU (share of its core): a row over '
        "80 % is flagged ⚠, the generator may have been the limit.",
        "",
        "## Targets (issue #14)",
        "",
        "| target | measured | met | margin |",
        "|---|---|---|---|",
    ]
    if not report["targets"]:
        lines.append("| (none measured in this run) | – | – | – |")
    for t in report["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured at its size"}[t["met"]]
        lines.append(f"| {t['target']} | {t['measured']} | {met} | {t['margin']} |")
    if r["fanout"]:
        lines += [
            "",
            "## Fan-out at saturation",
            "",
            "One publisher keeps N publishes in flight (published, not yet received by the "
            "slowest subscriber); every subscriber receives every publish.",
            "",
            *_fanout_table(r["fanout"], peers),
        ]
    if r["latency"]:
        lines += [
            "",
            "## Latency at fixed rates (100 subscribers)",
            "",
            f"The shared rate, {r['rates']['shared']}/s, is half the slowest server's saturation "
            f"({r['rates']['slowest']}); the higher rate, {r['rates']['high']}/s, is half of "
            'Canaux\'s own. A sample is publish (its scheduled instant) to delivery; "kept up" '
            "says the server delivered the rate.",
            "",
            *_latency_table(r["latency"], peers),
        ]
    idle_failures = [f for f in r.get("failures", []) if f.get("scenario") == "idle"]
    if r["idle"] or idle_failures:
        lines += ["", "## Idle connections (resident memory per connection)", "", *_idle_table(
            r["idle"], idle_failures, peers)]  # fmt: skip
    if r.get("validation"):
        lines += [
            "",
            "## Publish validation (micro-benchmark, the reference's `Catalogue.validate_publish`)",
            "",
            "| channel | µs per valid publish (median of its schema's examples) | worst example "
            "| µs per invalid publish |",
            "|---|---:|---:|---:|",
        ]
        for row in r["validation"]:
            lines.append(
                f"| {row['channel']} | {row['valid_us']:.1f} | {row['valid_us_max']:.1f} "
                f"| {row['invalid_us']:.1f} |"
            )
    if r.get("failures"):
        lines += ["", "## Rows that could not be measured", "", "| row | why |", "|---|---|"]
        for failure in r["failures"]:
            why = failure["error"].replace("|", "/").replace("\n", " ")
            lines.append(f"| {failure['row']} | {why} |")
    if report.get("notes"):
        lines += ["", "## Notes", "", report["notes"]]
    return "\n".join(lines) + "\n"
