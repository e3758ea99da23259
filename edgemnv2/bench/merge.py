"""Merge benchmark reports into one comparison, and flag regressions against a baseline report.

Results are matched across reports by :func:`edgemnv2.bench.report.result_key` (model name, runtime,
precision, threads) on the same host; a regression is a relative worsening beyond a threshold:
p50 latency up, p99 latency up, model throughput down, or (absolute) accuracy down. The same
measurement given twice (the same report merged twice) is listed once; results of different models
(architecture, width, resolution, task, precision), in the comparison or against the baseline, get a
note saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import EdgeError
from .report import describe_model, load_report, model_summary, new_report, result_key

__all__ = ["merge_reports", "find_regressions", "baseline_pairs", "model_differences", "result_lines",
           "DEFAULT_THRESHOLDS"]

DEFAULT_THRESHOLDS = {"p50": 0.10, "p99": 0.25, "model_ips": 0.10, "accuracy": 0.01}


def _fingerprint(r: Dict[str, Any]) -> str:
    """Identity of one measurement: the same environment, model file, key and raw samples = the same run."""
    blob = json.dumps([r.get("environment"), r.get("model_sha256"), result_key(r), r["samples"]["latency_ms"],
                       r["samples"]["t_s"]])
    return hashlib.sha256(blob.encode()).hexdigest()


def _collect(paths: Sequence[str | os.PathLike]) -> Tuple[Dict[str, Dict[str, Any]], List[Dict[str, Any]], List[str]]:
    """Environments, results (each measurement once) and notes of the reports at ``paths``."""
    envs: Dict[str, Dict[str, Any]] = {}
    results: List[Dict[str, Any]] = []
    notes: List[str] = []
    seen: Dict[str, str] = {}
    for p in paths:
        rep = load_report(p)
        for e in rep["environments"]:
            envs.setdefault(e["id"], e)
        for r in rep["results"]:
            fp = _fingerprint(r)
            if fp in seen:
                notes.append(f"{p}: result {result_key(r)} is the same measurement as in {seen[fp]}; listed once")
                continue
            seen[fp] = str(p)
            results.append(dict(r, source_report=str(p)))
        notes += [f"{p}: {n}" for n in rep.get("notes") or []]
    return envs, results, list(dict.fromkeys(notes))


def model_differences(a: Dict[str, Any], b: Dict[str, Any]) -> List[str]:
    """The model properties (architecture, width, resolution, task, precision) where two results differ."""
    sa, sb = model_summary(a), model_summary(b)
    return [k for k in sa if sa[k] is not None and sb[k] is not None and sa[k] != sb[k]]


def _models_note(results: List[Dict[str, Any]]) -> Optional[str]:
    """A note naming the models when the compared results are not all the same model."""
    models = {r["name"]: describe_model(model_summary(r)) for r in results}
    if len(set(models.values())) < 2:
        return None
    differ = sorted({k for a in results for b in results for k in model_differences(a, b)})
    listed = "; ".join(f"{name}: {desc}" for name, desc in models.items())
    return (f"the compared models differ in {', '.join(differ) or 'what is known of them'} ({listed}): speed and "
            "accuracy differences include the model's, not only the runtime's or the device's")


def merge_reports(paths: Sequence[str | os.PathLike], command: Sequence[str],
                  baseline: Optional[str | os.PathLike] = None,
                  thresholds: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
    if not paths:
        raise EdgeError("no reports to merge", "pass one or more report.json files")
    envs, results, notes = _collect(paths)
    note = _models_note(results)
    if note:
        notes.append(note)
    doc = new_report("comparison", command, {"merged": [str(p) for p in paths]}, list(envs.values()), results, notes)
    doc["sources"] = [str(p) for p in paths]
    if baseline is not None:
        base = load_report(baseline)
        th = dict(DEFAULT_THRESHOLDS, **(thresholds or {}))
        doc["baseline"] = str(baseline)
        doc["thresholds"] = th
        doc["regressions"] = find_regressions(base, doc, th)
        for r, b in baseline_pairs(base, doc):
            differ = model_differences(r, b)
            if differ:
                doc["notes"].append(f"{result_key(r)} is compared with a different baseline model ("
                                    f"{describe_model(model_summary(r))} vs {describe_model(model_summary(b))}: "
                                    f"{', '.join(differ)} differ): the change is not only a regression")
    return doc


def _host(report: Dict[str, Any], r: Dict[str, Any]) -> Tuple[str, str]:
    for e in report["environments"]:
        if e["id"] == r["environment"]:
            return e.get("hostname", ""), e.get("board") or ""
    return "", ""


def baseline_pairs(base: Dict[str, Any], cur: Dict[str, Any]) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """(current, baseline) results of the same key, on the same host when the baseline has several."""
    by_key: Dict[str, List[Tuple[Tuple[str, str], Dict[str, Any]]]] = {}
    for r in base["results"]:
        by_key.setdefault(result_key(r), []).append((_host(base, r), r))
    pairs = []
    for r in cur["results"]:
        cands = by_key.get(result_key(r), [])
        same = [b for h, b in cands if h == _host(cur, r)]
        if same:
            pairs.append((r, same[0]))
        elif len(cands) == 1:
            pairs.append((r, cands[0][1]))
    return pairs


def find_regressions(base: Dict[str, Any], cur: Dict[str, Any], th: Dict[str, float]) -> List[Dict[str, Any]]:
    """Compare every current result with its baseline result (see :func:`baseline_pairs`)."""
    out: List[Dict[str, Any]] = []
    for r, b in baseline_pairs(base, cur):
        host = _host(cur, r)
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


def result_lines(doc: Dict[str, Any]) -> List[str]:
    """One line per result of a comparison: name, runtime, precision, p50, p99, throughput."""
    out = []
    for r in doc["results"]:
        lat = r["latency_ms"]
        out.append(f"{r['name']:<32} {str((r.get('runtime') or {}).get('runtime')):<12} {str(r.get('precision')):<6} "
                   f"p50 {lat['p50']:.3f} ms  p99 {lat['p99']:.3f} ms  {r['throughput']['model_ips'] or 0:.1f} IPS")
    return out
