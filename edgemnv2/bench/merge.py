"""Merge benchmark reports into one comparison, and flag regressions against a baseline report.

Results are matched across reports by :func:`edgemnv2.bench.report.result_key` (model name, runtime,
precision, threads) on the same host; a regression is a relative worsening beyond a threshold:
p50 latency up, p99 latency up, model throughput down, or (absolute) accuracy down.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import EdgeError
from .report import load_report, new_report, result_key

__all__ = ["merge_reports", "find_regressions", "DEFAULT_THRESHOLDS"]

DEFAULT_THRESHOLDS = {"p50": 0.10, "p99": 0.25, "model_ips": 0.10, "accuracy": 0.01}


def merge_reports(paths: Sequence[str | os.PathLike], command: Sequence[str],
                  baseline: Optional[str | os.PathLike] = None,
                  thresholds: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
    if not paths:
        raise EdgeError("no reports to merge", "pass one or more report.json files")
    envs: Dict[str, Dict[str, Any]] = {}
    results: List[Dict[str, Any]] = []
    notes: List[str] = []
    for p in paths:
        rep = load_report(p)
        for e in rep["environments"]:
            envs.setdefault(e["id"], e)
        for r in rep["results"]:
            r = dict(r)
            r["source_report"] = str(p)
            results.append(r)
        notes += [f"{p}: {n}" for n in rep.get("notes") or []]
    doc = new_report("comparison", command, {"merged": [str(p) for p in paths]}, list(envs.values()), results, notes)
    doc["sources"] = [str(p) for p in paths]
    if baseline is not None:
        base = load_report(baseline)
        th = dict(DEFAULT_THRESHOLDS, **(thresholds or {}))
        doc["baseline"] = str(baseline)
        doc["thresholds"] = th
        doc["regressions"] = find_regressions(base, doc, th)
    return doc


def _host(report: Dict[str, Any], r: Dict[str, Any]) -> Tuple[str, str]:
    for e in report["environments"]:
        if e["id"] == r["environment"]:
            return e.get("hostname", ""), e.get("board") or ""
    return "", ""


def find_regressions(base: Dict[str, Any], cur: Dict[str, Any], th: Dict[str, float]) -> List[Dict[str, Any]]:
    """Compare every current result with the baseline result of the same key (same host when possible)."""
    by_key: Dict[str, List[Tuple[Tuple[str, str], Dict[str, Any]]]] = {}
    for r in base["results"]:
        by_key.setdefault(result_key(r), []).append((_host(base, r), r))
    out: List[Dict[str, Any]] = []
    for r in cur["results"]:
        cands = by_key.get(result_key(r), [])
        host = _host(cur, r)
        same = [b for h, b in cands if h == host]
        if same:
            b = same[0]
        elif len(cands) == 1:
            b = cands[0][1]
        else:
            continue
        label = f"{result_key(r)} @ {host[0]}"
        checks = [("p50 latency ms", b["latency_ms"]["p50"], r["latency_ms"]["p50"], "p50", +1),
                  ("p99 latency ms", b["latency_ms"]["p99"], r["latency_ms"]["p99"], "p99", +1),
                  ("model IPS", b["throughput"]["model_ips"], r["throughput"]["model_ips"], "model_ips", -1)]
        for metric, old, new, tkey, sign in checks:
            if old is None or new is None or old <= 0:
                continue
            change = sign * (new - old) / old
            if change > th[tkey]:
                out.append({"key": label, "metric": metric, "baseline": float(old), "current": float(new),
                            "change": change, "threshold": th[tkey]})
        ba, ca = b.get("accuracy") or {}, r.get("accuracy") or {}
        if ba.get("value") is not None and ca.get("value") is not None and ba.get("metric") == ca.get("metric"):
            drop = float(ba["value"]) - float(ca["value"])
            if drop > th["accuracy"]:
                out.append({"key": label, "metric": str(ca["metric"]), "baseline": float(ba["value"]),
                            "current": float(ca["value"]), "change": drop, "threshold": th["accuracy"]})
    return out
