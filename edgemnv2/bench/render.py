"""The human views of a benchmark report, report.md and a self-contained report.html, and
``write_report``, which writes them beside report.json.

Both are built from the same list of sections (title, text, table); the HTML adds the plots of
:mod:`edgemnv2.bench.plots` as base64 PNG. Device side apart from matplotlib (lazy, optional).
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from ..fileio import atomic_write_text, ensure_writable_dir
from .report import PLOTS_HINT, env_by_id, result_label

__all__ = ["render_markdown", "render_html"]

Rows = List[List[str]]


def _f(v: Any, digits: int = 2, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


@dataclass
class _Section:
    key: str
    title: str
    head: List[str] = field(default_factory=list)
    rows: Rows = field(default_factory=list)
    text: str = ""  # a paragraph before the table
    empty: str = ""  # said instead of an empty table
    items: List[str] = field(default_factory=list)  # a bullet list instead of a table


_RESULT_HEAD = ["model", "task", "p50 ms", "p90 ms", "p99 ms", "min ms", "max ms", "std ms", "model IPS",
                "end-to-end IPS", "cold start ms", "peak RSS MB", "process CPU %", "max temp C", "energy mJ/inf",
                "accuracy"]
_ENV_HEAD = ["env", "host", "board", "CPU", "cores", "OS", "kernel", "Python", "Jetson", "power mode", "libraries"]
_STAGE_HEAD = ["model", "stage", "mean ms", "p50 ms", "p90 ms", "p99 ms", "count"]
_SRC_HEAD = ["env", "telemetry source", "available", "details / reason missing"]
_SUS_HEAD = ["model", "window s", "count", "p50 ms", "p90 ms", "max temp C", "CPU MHz", "power mW"]
_PIPE_HEAD = ["model", "source", "captured", "processed", "dropped", "FPS", "frame age p50 ms", "frame age p99 ms"]
_REG_HEAD = ["result", "metric", "baseline", "current", "change (worse +)", "threshold"]
_DEL_HEAD = ["model", "delegate", "ops on the delegate", "ops outside it"]
_LIBS = ("onnxruntime", "ai-edge-litert", "tflite-runtime", "tensorflow", "tensorflow-cpu", "tensorrt", "numpy",
         "opencv-python-headless", "opencv-python")


def _labels(report: Dict[str, Any]) -> List[str]:
    envs = env_by_id(report)
    return [result_label(r, envs, len(envs) > 1) for r in report["results"]]


def _result_rows(report: Dict[str, Any]) -> Rows:
    rows = []
    for r, label in zip(report["results"], _labels(report)):
        lat = r["latency_ms"]
        tsum = (r.get("telemetry") or {}).get("summary") or {}
        acc = r.get("accuracy") or {}
        rows.append([
            label, r["task"], _f(lat["p50"], 3), _f(lat["p90"], 3), _f(lat["p99"], 3),
            _f(lat["min"], 3), _f(lat["max"], 3), _f(lat["std"], 3), _f(r["throughput"]["model_ips"], 1),
            _f(r["throughput"]["end_to_end_ips"], 1), _f(r["cold_start_ms"]["total_ms"], 1),
            _f(r["memory"].get("peak_rss_mb"), 1), _f(r["cpu"].get("process_percent"), 0),
            _f(tsum.get("temp_max_c"), 1),
            _f(r["energy"].get("per_inference_mj"), 2) if r["energy"].get("available") else "n/a",
            f"{acc.get('metric')} {_f(acc.get('value'), 4)}" if acc.get("metric") else "n/a",
        ])
    return rows


def _delegation_rows(report: Dict[str, Any]) -> Rows:
    rows = []
    for r, label in zip(report["results"], _labels(report)):
        d = (r.get("runtime") or {}).get("delegation")
        if not d:
            continue
        outside = ", ".join(f"{op} x{n}" for op, n in (d.get("not_delegated") or {}).items()) or "none"
        rows.append([label, str(d.get("delegate")), f"{d.get('delegated_ops')} of {d.get('ops')}", outside])
    return rows


def _sources_rows(report: Dict[str, Any]) -> Rows:
    rows = []
    seen = set()
    for r in report["results"]:
        for name, st in ((r.get("telemetry") or {}).get("sources") or {}).items():
            key = (r["environment"], name)
            if key in seen:
                continue
            seen.add(key)
            rows.append([r["environment"], name, "yes" if st.get("available") else "missing",
                         st.get("reason", "") or ", ".join(f"{k}={v}" for k, v in st.items()
                                                           if k not in ("available", "snapshot", "zones"))])
    return rows


def _stat_row(label: str, stage: str, st: Dict[str, Any]) -> List[str]:
    return [label, stage, _f(st.get("mean"), 3), _f(st.get("p50"), 3), _f(st.get("p90"), 3), _f(st.get("p99"), 3),
            str(st.get("count"))]


def _stage_rows(report: Dict[str, Any]) -> Rows:
    rows = []
    for r, label in zip(report["results"], _labels(report)):
        rows += [_stat_row(label, stage, st) for stage, st in r["stages_ms"].items()]
        pipe = r.get("pipeline") or {}
        rows += [_stat_row(label, f"pipeline {stage}", st) for stage, st in (pipe.get("stages_ms") or {}).items()
                 if isinstance(st, dict) and "p50" in st]
    return rows


def _env_rows(report: Dict[str, Any]) -> Rows:
    rows = []
    for e in report["environments"]:
        libs = e.get("libraries") or {}
        runtimes = ", ".join(f"{k} {v}" for k, v in libs.items() if k in _LIBS)
        jet = e.get("jetson") or {}
        rows.append([e["id"], e.get("hostname", ""), e.get("board") or "n/a", e.get("cpu_model") or "n/a",
                     str(e.get("cpu_count")), e.get("os", ""), e.get("kernel", ""), e.get("python", ""),
                     f"JetPack {jet['jetpack']} (L4T {jet['l4t']})" if jet else "-", e.get("power_mode") or "n/a",
                     runtimes])
    return rows


def _sustained_rows(report: Dict[str, Any]) -> Rows:
    rows = []
    for r, label in zip(report["results"], _labels(report)):
        for w in (r.get("sustained") or {}).get("windows") or []:
            rows.append([label, f"{w['start_s']:.0f}-{w['end_s']:.0f}", str(w["count"]), _f(w.get("p50"), 3),
                         _f(w.get("p90"), 3), _f(w.get("temp_max_c"), 1), _f(w.get("cpu_mhz_mean"), 0),
                         _f(w.get("power_mw_mean"), 0)])
    return rows


def _pipeline_rows(report: Dict[str, Any]) -> Rows:
    rows = []
    for r, label in zip(report["results"], _labels(report)):
        p = r.get("pipeline")
        if not p:
            continue
        fr = p.get("frames") or {}
        age = p.get("frame_age_ms") or {}
        src = p.get("source") or {}
        rows.append([label, str(src.get("name") or src.get("spec") or src.get("kind") or ""),
                     str(fr.get("captured")), str(fr.get("processed")), str(fr.get("dropped")), _f(p.get("fps"), 1),
                     _f(age.get("p50"), 2), _f(age.get("p99"), 2)])
    return rows


def _regression_rows(report: Dict[str, Any]) -> Rows:
    return [[g["key"], g["metric"], _f(g["baseline"], 3), _f(g["current"], 3), f"{100 * g['change']:+.1f} %",
             f"{100 * g['threshold']:.1f} %"] for g in report.get("regressions") or []]


def _notes(report: Dict[str, Any]) -> List[str]:
    notes = list(report.get("notes") or [])
    for r in report["results"]:
        energy = r.get("energy") or {}
        if not energy.get("available") and energy.get("reason"):
            notes.append(f"{r['name']}: energy not measured - {energy['reason']}")
    return list(dict.fromkeys(notes))


def _sections(report: Dict[str, Any]) -> List[_Section]:
    """Every section of both documents, in order; empty optional ones are left out."""
    out = [_Section("results", "Results", _RESULT_HEAD, _result_rows(report),
                    "Latency is model-only (the runtime call), after warm-up. IPS = inferences per second.")]
    if report.get("regressions") is not None:
        out.append(_Section("regressions", "Regressions against the baseline", _REG_HEAD, _regression_rows(report),
                            f"Baseline: {report.get('baseline')}; thresholds: {json.dumps(report.get('thresholds'))}",
                            empty="No regression beyond the thresholds."))
    out.append(_Section("stages", "Per-stage times", _STAGE_HEAD, _stage_rows(report)))
    optional = [("delegation", "Delegation (which ops the TFLite delegate ran)", _DEL_HEAD, _delegation_rows(report)),
                ("pipeline", "Full pipeline (capture to result)", _PIPE_HEAD, _pipeline_rows(report)),
                ("sustained", "Sustained run (per window)", _SUS_HEAD, _sustained_rows(report))]
    out += [_Section(key, title, head, rows) for key, title, head, rows in optional if rows]
    out += [_Section("environment", "Environment", _ENV_HEAD, _env_rows(report)),
            _Section("sources", "Telemetry sources", _SRC_HEAD, _sources_rows(report))]
    notes = _notes(report)
    if notes:
        out.append(_Section("notes", "Notes", items=notes))
    return out


def _title(report: Dict[str, Any]) -> str:
    return "edgemnv2 benchmark comparison" if report["kind"] == "comparison" else "edgemnv2 benchmark report"


# -- Markdown ----------------------------------------------------------------------------------------
def _md_table(head: List[str], rows: Rows) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in rows]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in esc]
    return "\n".join(lines)


def _md_section(s: _Section) -> List[str]:
    out = [f"## {s.title}", ""]
    if s.text:
        out += [s.text, ""]
    if s.items:
        return out + [f"- {n}" for n in s.items] + [""]
    return out + [_md_table(s.head, s.rows) if s.rows or not s.empty else s.empty, ""]


def render_markdown(report: Dict[str, Any]) -> str:
    cfg = report.get("config") or {}
    out = [f"# {_title(report)}", "", f"Created {report['created']} by edgemnv2 {report['edgemnv2_version']}.",
           f"Command: `{' '.join(report['command'])}`", ""]
    if report["kind"] == "bench":
        out += [f"Runs: {cfg.get('runs')} after {cfg.get('warmup')} warm-up; duration: "
                f"{cfg.get('duration_s') or '-'} s; threads: {cfg.get('threads') or 'runtime default'}; "
                f"input image: {cfg.get('image')}.", ""]
    if report.get("sources"):
        out += ["Merged from: " + ", ".join(f"`{s}`" for s in report["sources"]), ""]
    for s in _sections(report):
        out += _md_section(s)
    out += ["Raw samples and every field are in report.json (schema: docs/report.md).", ""]
    return "\n".join(out)


# -- HTML --------------------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:left}th{background:#f0f0f0}img{max-width:100%;border:1px solid #ddd;margin:6px 0}
.note{background:#fff6d6;border:1px solid #e6c200;padding:8px 12px}.muted{color:#666}"""


def _html_table(head: List[str], rows: Rows) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _html_section(s: _Section) -> str:
    out = f"<h2>{html.escape(s.title)}</h2>"
    if s.text:
        out += f"<p>{html.escape(s.text)}</p>"
    if s.items:
        return out + "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in s.items) + "</ul>"
    return out + (_html_table(s.head, s.rows) if s.rows or not s.empty else f"<p>{html.escape(s.empty)}</p>")


def _html_plots(report: Dict[str, Any]) -> List[str]:
    from .plots import PLOT_TITLES, make_plots

    plots, missing = make_plots(report)
    if missing:
        return [f"<p class='note'>This report has no plots: {html.escape(missing)}. Install them with "
                f"<code>{html.escape(PLOTS_HINT)}</code> and re-run, or render this report on another machine "
                "with <code>edgemnv2 report merge report.json --out DIR</code>.</p>"]
    return [f"<h3>{html.escape(caption)}</h3><img alt='{name}' src='data:image/png;base64,{plots[name]}'>"
            for name, caption in PLOT_TITLES if name in plots]


def render_html(report: Dict[str, Any]) -> str:
    title = _title(report)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style>"
             f"</head><body><h1>{title}</h1>",
             f"<p class='muted'>Created {html.escape(report['created'])} by edgemnv2 "
             f"{html.escape(report['edgemnv2_version'])}. Command: <code>{html.escape(' '.join(report['command']))}"
             f"</code></p>"]
    for s in _sections(report):
        if s.key == "stages":  # the plots follow the results (and regressions)
            parts += _html_plots(report)
        parts.append(_html_section(s))
    parts.append("<p class='muted'>Raw samples and every field are in report.json (schema: docs/report.md).</p>"
                 "</body></html>")
    return "\n".join(parts) + "\n"


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def write_report(report: Dict[str, Any], out_dir: str | os.PathLike) -> Dict[str, Path]:
    """Write report.json, report.md and report.html into ``out_dir`` (each file atomically)."""
    out = Path(out_dir)
    ensure_writable_dir(out, "report directory")
    # compact: long sustained runs keep hundreds of thousands of samples (report.md is the human view)
    text_json = json.dumps(report, separators=(",", ":"), allow_nan=False, default=_json_default) + "\n"
    text_md = render_markdown(report)
    text_html = render_html(report)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    atomic_write_text(paths["json"], text_json)
    atomic_write_text(paths["md"], text_md)
    atomic_write_text(paths["html"], text_html)
    return paths
