"""The benchmark report: report.json (versioned schema), report.md and a self-contained report.html.

report.json follows ``edgemnv2/schemas/report.schema.json`` (documented in docs/report.md) and keeps
the raw latency samples, so every statistic can be recomputed. report.html embeds its plots as
base64 PNG made with matplotlib, which is imported lazily: without it the JSON and Markdown are still
written and the HTML says which package the plots need. Device side apart from matplotlib.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .. import __version__
from ..errors import EdgeError
from ..fileio import atomic_write_text, ensure_writable_dir

__all__ = ["SCHEMA", "SCHEMA_VERSION", "new_report", "write_report", "check_report_dir", "load_report", "schema_path",
           "validate_report", "render_markdown", "render_html", "result_key", "PLOTS_HINT"]

SCHEMA = "edgemnv2-bench-report"
SCHEMA_VERSION = 1
PLOTS_HINT = "pip install 'edgemnv2[report]'"


def schema_path() -> Path:
    return Path(__file__).resolve().parents[1] / "schemas" / "report.schema.json"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def new_report(kind: str, command: Sequence[str], config: Dict[str, Any], environments: List[Dict[str, Any]],
               results: List[Dict[str, Any]], notes: Optional[List[str]] = None) -> Dict[str, Any]:
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "kind": kind, "created": now_iso(),
            "edgemnv2_version": __version__, "command": [str(c) for c in command], "config": config,
            "notes": list(notes or []), "environments": environments, "results": results}


def result_key(r: Dict[str, Any]) -> str:
    """How a result is matched across reports: model name, runtime, precision, threads, environment label."""
    runtime = (r.get("runtime") or {}).get("runtime", r.get("model_format"))
    return f"{r['name']} | {runtime} | {r.get('precision') or '-'} | threads={r.get('threads') or 'default'}"


def load_report(path: str | os.PathLike) -> Dict[str, Any]:
    """Read a report.json (or a report directory holding one), checking kind and schema version."""
    p = Path(path)
    if p.is_dir():
        if not (p / "report.json").is_file():
            raise EdgeError(f"{path} has no report.json", "pass a report.json written by edgemnv2 bench")
        p = p / "report.json"
    if not p.is_file():
        raise EdgeError(f"report {path} does not exist", "pass a report.json written by edgemnv2 bench")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EdgeError(f"{p} is not valid JSON: {e}", "pass a report.json written by edgemnv2 bench") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise EdgeError(f"{p} is not an edgemnv2 benchmark report", "pass a report.json written by edgemnv2 bench")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise EdgeError(f"{p} has report schema version {data.get('schema_version')!r}; this edgemnv2 reads "
                        f"version {SCHEMA_VERSION}", "re-run the benchmark with this edgemnv2 version")
    return data


def validate_report(report: Dict[str, Any]) -> List[str]:
    """Schema errors (empty when valid); needs jsonschema (a dev dependency), else checks only the header."""
    try:
        import jsonschema
    except ImportError:
        errs = []
        if report.get("schema") != SCHEMA or report.get("schema_version") != SCHEMA_VERSION:
            errs.append("wrong schema or schema_version")
        return errs
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(report)]


def check_report_dir(out_dir: str | os.PathLike, what: str = "report directory") -> None:
    """Fail early (before measuring) if ``out_dir`` could not be created or written; creates nothing."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise EdgeError(f"{what} {path} exists and is not a directory", "choose another path")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise EdgeError(f"cannot create {what} {path}: {probe} is not a directory", "choose a writable path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise EdgeError(f"{what} {path} is not writable ({probe} is read-only for this user)",
                        "choose a writable path or fix its permissions")


def write_report(report: Dict[str, Any], out_dir: str | os.PathLike) -> Dict[str, Path]:
    """Write report.json, report.md and report.html into ``out_dir`` (each file atomically)."""
    out = Path(out_dir)
    ensure_writable_dir(out, "report directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgeError(f"cannot create report directory {out}: {e.strerror}", "choose a writable --report") from None
    # compact: long sustained runs keep hundreds of thousands of samples (report.md is the human view)
    text_json = json.dumps(report, separators=(",", ":"), allow_nan=False, default=_json_default) + "\n"
    text_md = render_markdown(report)
    text_html = render_html(report)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    atomic_write_text(paths["json"], text_json)
    atomic_write_text(paths["md"], text_md)
    atomic_write_text(paths["html"], text_html)
    return paths


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


# -- formatting helpers ------------------------------------------------------------------------------
def _f(v: Any, digits: int = 2, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def _env_by_id(report: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {e["id"]: e for e in report["environments"]}


def _label(r: Dict[str, Any], envs: Dict[str, Dict[str, Any]], multi_env: bool) -> str:
    runtime = (r.get("runtime") or {}).get("runtime", r.get("model_format"))
    s = f"{r['name']} [{runtime}{' ' + r['precision'] if r.get('precision') else ''}]"
    if multi_env:
        env = envs.get(r["environment"], {})
        s += f" @ {env.get('hostname', r['environment'])}"
    return s


def _rows(report: Dict[str, Any]) -> Tuple[List[str], List[List[str]]]:
    envs = _env_by_id(report)
    multi = len(envs) > 1
    head = ["model", "task", "p50 ms", "p90 ms", "p99 ms", "min ms", "max ms", "std ms", "model IPS", "end-to-end IPS",
            "cold start ms", "peak RSS MB", "process CPU %", "max temp C", "energy mJ/inf", "accuracy"]
    rows = []
    for r in report["results"]:
        lat = r["latency_ms"]
        tsum = (r.get("telemetry") or {}).get("summary") or {}
        acc = r.get("accuracy") or {}
        rows.append([
            _label(r, envs, multi), r["task"], _f(lat["p50"], 3), _f(lat["p90"], 3), _f(lat["p99"], 3),
            _f(lat["min"], 3), _f(lat["max"], 3), _f(lat["std"], 3), _f(r["throughput"]["model_ips"], 1),
            _f(r["throughput"]["end_to_end_ips"], 1), _f(r["cold_start_ms"]["total_ms"], 1),
            _f(r["memory"].get("peak_rss_mb"), 1), _f(r["cpu"].get("process_percent"), 0),
            _f(tsum.get("temp_max_c"), 1),
            _f(r["energy"].get("per_inference_mj"), 2) if r["energy"].get("available") else "n/a",
            f"{acc.get('metric')} {_f(acc.get('value'), 4)}" if acc.get("metric") else "n/a",
        ])
    return head, rows


def _md_table(head: List[str], rows: List[List[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in rows]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in esc]
    return "\n".join(lines)


def _sources_rows(report: Dict[str, Any]) -> List[List[str]]:
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


def _stage_rows(report: Dict[str, Any]) -> List[List[str]]:
    envs = _env_by_id(report)
    rows = []
    for r in report["results"]:
        for stage, st in r["stages_ms"].items():
            rows.append([_label(r, envs, len(envs) > 1), stage, _f(st["mean"], 3), _f(st["p50"], 3),
                         _f(st["p90"], 3), _f(st["p99"], 3), str(st["count"])])
        pipe = r.get("pipeline") or {}
        for stage, st in (pipe.get("stages_ms") or {}).items():
            if isinstance(st, dict) and "p50" in st:
                rows.append([_label(r, envs, len(envs) > 1), f"pipeline {stage}", _f(st.get("mean"), 3),
                             _f(st.get("p50"), 3), _f(st.get("p90"), 3), _f(st.get("p99"), 3), str(st.get("count"))])
    return rows


def _env_rows(report: Dict[str, Any]) -> List[List[str]]:
    rows = []
    for e in report["environments"]:
        libs = e.get("libraries") or {}
        runtimes = ", ".join(f"{k} {v}" for k, v in libs.items() if k in (
            "onnxruntime", "ai-edge-litert", "tflite-runtime", "tensorflow", "tensorflow-cpu", "tensorrt", "numpy",
            "opencv-python-headless", "opencv-python"))
        jet = e.get("jetson") or {}
        rows.append([e["id"], e.get("hostname", ""), e.get("board") or "n/a", e.get("cpu_model") or "n/a",
                     str(e.get("cpu_count")), e.get("os", ""), e.get("kernel", ""), e.get("python", ""),
                     f"JetPack {jet['jetpack']} (L4T {jet['l4t']})" if jet else "-", e.get("power_mode") or "n/a",
                     runtimes])
    return rows


_ENV_HEAD = ["env", "host", "board", "CPU", "cores", "OS", "kernel", "Python", "Jetson", "power mode", "libraries"]
_STAGE_HEAD = ["model", "stage", "mean ms", "p50 ms", "p90 ms", "p99 ms", "count"]
_SRC_HEAD = ["env", "telemetry source", "available", "details / reason missing"]


def _sustained_rows(report: Dict[str, Any]) -> List[List[str]]:
    envs = _env_by_id(report)
    rows = []
    for r in report["results"]:
        s = r.get("sustained")
        if not s:
            continue
        for w in s["windows"]:
            rows.append([_label(r, envs, len(envs) > 1), f"{w['start_s']:.0f}-{w['end_s']:.0f}", str(w["count"]),
                         _f(w.get("p50"), 3), _f(w.get("p90"), 3), _f(w.get("temp_max_c"), 1),
                         _f(w.get("cpu_mhz_mean"), 0), _f(w.get("power_mw_mean"), 0)])
    return rows


_SUS_HEAD = ["model", "window s", "count", "p50 ms", "p90 ms", "max temp C", "CPU MHz", "power mW"]


def _pipeline_rows(report: Dict[str, Any]) -> List[List[str]]:
    envs = _env_by_id(report)
    rows = []
    for r in report["results"]:
        p = r.get("pipeline")
        if not p:
            continue
        fr = p.get("frames") or {}
        age = p.get("frame_age_ms") or {}
        src = p.get("source") or {}
        rows.append([_label(r, envs, len(envs) > 1), str(src.get("name") or src.get("spec") or src.get("kind") or ""),
                     str(fr.get("captured")), str(fr.get("processed")), str(fr.get("dropped")), _f(p.get("fps"), 1),
                     _f(age.get("p50"), 2), _f(age.get("p99"), 2)])
    return rows


_PIPE_HEAD = ["model", "source", "captured", "processed", "dropped", "FPS", "frame age p50 ms", "frame age p99 ms"]


def _regression_rows(report: Dict[str, Any]) -> List[List[str]]:
    return [[g["key"], g["metric"], _f(g["baseline"], 3), _f(g["current"], 3), f"{100 * g['change']:+.1f} %",
             f"{100 * g['threshold']:.1f} %"] for g in report.get("regressions") or []]


_REG_HEAD = ["result", "metric", "baseline", "current", "change (worse +)", "threshold"]


def _notes(report: Dict[str, Any]) -> List[str]:
    notes = list(report.get("notes") or [])
    for r in report["results"]:
        for key, label in (("energy", "energy"),):
            v = r.get(key) or {}
            if not v.get("available") and v.get("reason"):
                notes.append(f"{r['name']}: {label} not measured - {v['reason']}")
    return list(dict.fromkeys(notes))


def render_markdown(report: Dict[str, Any]) -> str:
    title = "edgemnv2 benchmark comparison" if report["kind"] == "comparison" else "edgemnv2 benchmark report"
    cfg = report.get("config") or {}
    out = [f"# {title}", "", f"Created {report['created']} by edgemnv2 {report['edgemnv2_version']}.",
           f"Command: `{' '.join(report['command'])}`", ""]
    if report["kind"] == "bench":
        out += [f"Runs: {cfg.get('runs')} after {cfg.get('warmup')} warm-up; duration: "
                f"{cfg.get('duration_s') or '-'} s; threads: {cfg.get('threads') or 'runtime default'}; "
                f"input image: {cfg.get('image')}.", ""]
    if report.get("sources"):
        out += ["Merged from: " + ", ".join(f"`{s}`" for s in report["sources"]), ""]
    head, rows = _rows(report)
    out += ["## Results", "", "Latency is model-only (the runtime call), after warm-up. IPS = inferences per second.",
            "", _md_table(head, rows), ""]
    if report.get("regressions") is not None:
        out += ["## Regressions against the baseline", "", f"Baseline: `{report.get('baseline')}`; thresholds: "
                f"{json.dumps(report.get('thresholds'))}", ""]
        regs = _regression_rows(report)
        out += [_md_table(_REG_HEAD, regs) if regs else "No regression beyond the thresholds.", ""]
    out += ["## Per-stage times", "", _md_table(_STAGE_HEAD, _stage_rows(report)), ""]
    pipe = _pipeline_rows(report)
    if pipe:
        out += ["## Full pipeline (capture to result)", "", _md_table(_PIPE_HEAD, pipe), ""]
    sus = _sustained_rows(report)
    if sus:
        out += ["## Sustained run (per window)", "", _md_table(_SUS_HEAD, sus), ""]
    out += ["## Environment", "", _md_table(_ENV_HEAD, _env_rows(report)), "",
            "## Telemetry sources", "", _md_table(_SRC_HEAD, _sources_rows(report)), ""]
    notes = _notes(report)
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    out += ["Raw samples and every field are in report.json (schema: docs/report.md).", ""]
    return "\n".join(out)


# -- HTML ------------------------------------------------------------------------------------------
def _html_table(head: List[str], rows: List[List[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:left}th{background:#f0f0f0}img{max-width:100%;border:1px solid #ddd;margin:6px 0}
.note{background:#fff6d6;border:1px solid #e6c200;padding:8px 12px}.muted{color:#666}"""


def render_html(report: Dict[str, Any]) -> str:
    title = "edgemnv2 benchmark comparison" if report["kind"] == "comparison" else "edgemnv2 benchmark report"
    plots, missing = make_plots(report)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style>"
             f"</head><body><h1>{title}</h1>",
             f"<p class='muted'>Created {html.escape(report['created'])} by edgemnv2 "
             f"{html.escape(report['edgemnv2_version'])}. Command: <code>{html.escape(' '.join(report['command']))}"
             f"</code></p>"]
    if missing:
        parts.append(f"<p class='note'>This report has no plots: {html.escape(missing)}. Install them with "
                     f"<code>{html.escape(PLOTS_HINT)}</code> and re-run, or render this report on another machine "
                     "with <code>edgemnv2 report merge report.json --out DIR</code>.</p>")
    head, rows = _rows(report)
    parts += ["<h2>Results</h2><p>Latency is model-only (the runtime call), after warm-up. IPS = inferences per "
              "second.</p>", _html_table(head, rows)]
    if report.get("regressions") is not None:
        regs = _regression_rows(report)
        base = html.escape(str(report.get("baseline")))
        parts += [f"<h2>Regressions against the baseline</h2><p>Baseline <code>{base}</code>"
                  f", thresholds {html.escape(json.dumps(report.get('thresholds')))}</p>",
                  _html_table(_REG_HEAD, regs) if regs else "<p>No regression beyond the thresholds.</p>"]
    for name, caption in PLOT_TITLES:
        if name in plots:
            parts.append(f"<h3>{html.escape(caption)}</h3><img alt='{name}' src='data:image/png;base64,"
                         f"{plots[name]}'>")
    parts += ["<h2>Per-stage times</h2>", _html_table(_STAGE_HEAD, _stage_rows(report))]
    pipe = _pipeline_rows(report)
    if pipe:
        parts += ["<h2>Full pipeline (capture to result)</h2>", _html_table(_PIPE_HEAD, pipe)]
    sus = _sustained_rows(report)
    if sus:
        parts += ["<h2>Sustained run (per window)</h2>", _html_table(_SUS_HEAD, sus)]
    parts += ["<h2>Environment</h2>", _html_table(_ENV_HEAD, _env_rows(report)),
              "<h2>Telemetry sources</h2>", _html_table(_SRC_HEAD, _sources_rows(report))]
    notes = _notes(report)
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("<p class='muted'>Raw samples and every field are in report.json (schema: docs/report.md).</p>"
                 "</body></html>")
    return "\n".join(parts) + "\n"


PLOT_TITLES = [
    ("comparison", "Comparison: latency percentiles and throughput"),
    ("histogram", "Latency histogram (model-only)"),
    ("cdf", "Latency CDF (model-only)"),
    ("timeline", "Latency and temperature over time"),
    ("stages", "Per-stage breakdown (mean ms per image; in a pipeline run the stages run in parallel threads, "
               "so its bar is the work per frame, not the time between frames)"),
    ("clocks", "CPU clock over time (Pi: vcgencmd ARM clock; else mean cpufreq) - drops show throttling"),
    ("power", "Power over time"),
]


def _hottest_sensor(samples: List[Dict[str, Any]]) -> Optional[str]:
    best: Optional[Tuple[float, str]] = None
    for smp in samples:
        for name, v in (smp.get("temps_c") or {}).items():
            if best is None or v > best[0]:
                best = (v, name)
    return best[1] if best else None


def make_plots(report: Dict[str, Any]) -> Tuple[Dict[str, str], Optional[str]]:
    """Base64 PNGs keyed by plot name, and why there are none (matplotlib missing) or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}, "matplotlib is not installed"
    import numpy as np

    envs = _env_by_id(report)
    multi = len(envs) > 1
    results = [r for r in report["results"] if r["samples"]["latency_ms"]]
    labels = [_label(r, envs, multi) for r in results]
    plots: Dict[str, str] = {}
    if not results:
        return plots, None
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def emit(fig: Any, name: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        plots[name] = base64.b64encode(buf.getvalue()).decode("ascii")

    # comparison bars: p50 with p90/p99 markers, and throughput
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, max(2.5, 0.5 * len(results) + 1.5)))
    y = np.arange(len(results))
    p50 = [r["latency_ms"]["p50"] for r in results]
    ax1.barh(y, p50, color=[colors[i % len(colors)] for i in range(len(results))], alpha=0.8, label="p50")
    ax1.scatter([r["latency_ms"]["p90"] for r in results], y, marker="|", s=200, color="k", label="p90")
    ax1.scatter([r["latency_ms"]["p99"] for r in results], y, marker="x", color="crimson", label="p99")
    ax1.set_yticks(y)
    ax1.set_yticklabels(labels, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("model-only latency (ms)")
    ax1.legend(fontsize=8, loc="lower right")
    ips = [r["throughput"]["model_ips"] or 0 for r in results]
    e2e = [r["throughput"]["end_to_end_ips"] or 0 for r in results]
    ax2.barh(y - 0.2, ips, height=0.4, label="model IPS")
    ax2.barh(y + 0.2, e2e, height=0.4, label="end-to-end IPS")
    ax2.set_yticks(y)
    ax2.set_yticklabels([])
    ax2.invert_yaxis()
    ax2.set_xlabel("inferences per second")
    ax2.legend(fontsize=8, loc="lower right")
    emit(fig, "comparison")

    fig, ax = plt.subplots(figsize=(10, 4))
    every = np.concatenate([np.asarray(r["samples"]["latency_ms"], float) for r in results])
    lo, hi = float(every.min()), float(every.max())
    log = lo > 0 and hi / lo > 20  # long tails (or models of very different speed): log-spaced bins
    bins = np.geomspace(lo, hi, 50) if log else np.linspace(lo, hi if hi > lo else lo + 1e-3, 50)
    for i, (r, lab) in enumerate(zip(results, labels)):
        ax.hist(r["samples"]["latency_ms"], bins=bins, alpha=0.55, label=lab, color=colors[i % len(colors)])
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("model-only latency (ms)" + (", log scale" if log else ""))
    ax.set_ylabel("runs")
    ax.legend(fontsize=8)
    emit(fig, "histogram")

    fig, ax = plt.subplots(figsize=(10, 4))
    for i, (r, lab) in enumerate(zip(results, labels)):
        s = np.sort(np.asarray(r["samples"]["latency_ms"]))
        ax.step(s, np.arange(1, s.size + 1) / s.size, where="post", label=lab, color=colors[i % len(colors)])
    for q in (0.5, 0.9, 0.99):
        ax.axhline(q, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("model-only latency (ms)")
    ax.set_ylabel("fraction of runs")
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize=8)
    emit(fig, "cdf")

    fig, ax = plt.subplots(figsize=(10, 4))
    ax_t = None
    for i, (r, lab) in enumerate(zip(results, labels)):
        c = colors[i % len(colors)]
        ax.plot(r["samples"]["t_s"], r["samples"]["latency_ms"], ".", ms=3, alpha=0.6, color=c, label=lab)
        tel = r.get("telemetry") or {}
        t0 = (tel.get("marks") or {}).get("timed_start", 0.0)
        sensor = _hottest_sensor(tel.get("samples") or [])  # one sensor's series, not a max across sources
        pts = [(s["t_s"] - t0, s["temps_c"][sensor]) for s in tel.get("samples") or []
               if sensor and sensor in (s.get("temps_c") or {})]
        if pts:
            if ax_t is None:
                ax_t = ax.twinx()
                ax_t.set_ylabel("temperature (C), lines")
            ax_t.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=c, lw=1.5, alpha=0.9,
                      label=f"{sensor} ({lab.split(' ')[0]})")
            ax_t.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("time since the timed loop started (s)")
    ax.set_ylabel("model-only latency (ms)")
    ax.legend(fontsize=8, loc="upper left")
    if ax_t is not None:  # at least a 5 C span, so sensor noise does not look like a thermal event
        lo, hi = ax_t.get_ylim()
        if hi - lo < 5.0:
            mid = (hi + lo) / 2
            ax_t.set_ylim(mid - 2.5, mid + 2.5)
    if ax_t is None:
        ax.set_title("no temperature source on this machine (see Telemetry sources)", fontsize=9)
    emit(fig, "timeline")

    stage_names: List[str] = []
    for r in results:
        for k in r["stages_ms"]:
            if k not in stage_names:
                stage_names.append(k)
    # one bar per model (timed loop) plus one per pipeline run (capture ... sink, stages overlap in threads)
    bars = [(lab, r["stages_ms"]) for r, lab in zip(results, labels)]
    for r, lab in zip(results, labels):
        pipe = (r.get("pipeline") or {}).get("stages") or {}
        if pipe:
            bars.append((f"{lab} pipeline", pipe))
            for k in pipe:
                if k not in stage_names:
                    stage_names.append(k)
    yb = np.arange(len(bars))
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.45 * len(bars) + 1.2)))
    left = np.zeros(len(bars))
    for j, stage in enumerate(stage_names):
        vals = np.array([(st.get(stage) or {}).get("mean") or 0.0 for _, st in bars])
        ax.barh(yb, vals, left=left, label=stage, color=colors[j % len(colors)])
        left += vals
    ax.set_yticks(yb)
    ax.set_yticklabels([b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean time per image (ms)")
    ax.legend(fontsize=8)
    emit(fig, "stages")

    def telemetry_series(value: Callable[[Dict[str, Any]], Any], ylabel: str, name: str, height: float) -> None:
        """One line per result of a telemetry value over time (skipped when no result has it)."""
        series = []
        for i, r in enumerate(results):
            tel = r.get("telemetry") or {}
            t0 = (tel.get("marks") or {}).get("timed_start", 0.0)
            pts = [(s["t_s"] - t0, value(s)) for s in tel.get("samples") or [] if value(s) is not None]
            if pts:
                series.append((labels[i], pts, colors[i % len(colors)]))
        if not series:
            return
        fig, ax = plt.subplots(figsize=(10, height))
        for lab, pts, c in series:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", label=lab, color=c)
        ax.set_xlabel("time since the timed loop started (s)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        emit(fig, name)

    telemetry_series(lambda s: s.get("arm_mhz", s.get("cpu_mhz")), "CPU clock (MHz)", "clocks", 3)
    telemetry_series(lambda s: s.get("power_mw"), "power (mW)", "power", 3.5)
    return plots, None
