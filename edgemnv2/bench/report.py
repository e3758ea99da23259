"""The benchmark report's data: report.json (versioned schema), building, reading and validating it.

report.json follows ``edgemnv2/schemas/report.schema.json`` (documented in docs/report.md) and keeps
the raw latency samples, so every statistic can be recomputed. :mod:`edgemnv2.bench.render` writes it
with the human views, report.md and report.html (plots in :mod:`edgemnv2.bench.plots`).
Device side.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import __version__
from ..errors import EdgeError
from ..sysinfo import now_iso

__all__ = ["SCHEMA", "SCHEMA_VERSION", "READABLE_VERSIONS", "new_report", "check_report_dir",
           "load_report", "schema_path", "validate_report", "result_key", "result_label", "env_by_id",
           "model_summary", "describe_model", "PLOTS_HINT"]

SCHEMA = "edgemnv2-bench-report"
SCHEMA_VERSION = 2  # 2: results[].runtime.delegation (which ops the TFLite delegate ran)
READABLE_VERSIONS = (1, 2)
PLOTS_HINT = "pip install 'edgemnv2[report]'"
_REPORT_HINT = "pass a report.json written by edgemnv2 bench"


def schema_path() -> Path:
    return Path(__file__).resolve().parents[1] / "schemas" / "report.schema.json"


def new_report(kind: str, command: Sequence[str], config: Dict[str, Any], environments: List[Dict[str, Any]],
               results: List[Dict[str, Any]], notes: Optional[List[str]] = None) -> Dict[str, Any]:
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "kind": kind, "created": now_iso(),
            "edgemnv2_version": __version__, "command": [str(c) for c in command], "config": config,
            "notes": list(notes or []), "environments": environments, "results": results}


def result_key(r: Dict[str, Any]) -> str:
    """How a result is matched across reports: model name, runtime, precision, threads."""
    runtime = (r.get("runtime") or {}).get("runtime", r.get("model_format"))
    return f"{r['name']} | {runtime} | {r.get('precision') or '-'} | threads={r.get('threads') or 'default'}"


def env_by_id(report: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {e["id"]: e for e in report["environments"]}


def result_label(r: Dict[str, Any], envs: Dict[str, Dict[str, Any]], multi_env: bool) -> str:
    """``name [runtime precision]``, with ``@ host`` when the report spans several environments."""
    runtime = (r.get("runtime") or {}).get("runtime", r.get("model_format"))
    s = f"{r['name']} [{runtime}{' ' + r['precision'] if r.get('precision') else ''}]"
    if multi_env:
        env = envs.get(r["environment"], {})
        s += f" @ {env.get('hostname', r['environment'])}"
    return s


def _input_resolution(r: Dict[str, Any]) -> Optional[str]:
    """``HxW`` of the first input (NHWC or NCHW: the two spatial dims are the two largest after batch)."""
    inputs = r.get("input") or []
    shape = inputs[0].get("shape") if inputs and isinstance(inputs[0], dict) else None
    if not shape or len(shape) != 4:
        return None
    h, w = (shape[1], shape[2]) if shape[3] <= 4 else (shape[2], shape[3])
    return f"{h}x{w}"


def model_summary(r: Dict[str, Any]) -> Dict[str, Any]:
    """What the model of a result is (bundles record their architecture; bare models give only the input)."""
    arch = r.get("architecture") if isinstance(r.get("architecture"), dict) else {}
    res = arch.get("resolution")
    return {"architecture": arch.get("family"), "width": arch.get("width_mult"),
            "resolution": f"{res}x{res}" if isinstance(res, int) else _input_resolution(r),
            "task": r.get("task"), "precision": r.get("precision")}


def describe_model(s: Dict[str, Any]) -> str:
    """``mobilenet_v2 1.0@224x224 classify int8`` (unknown parts as ``?``)."""
    width = "?" if s["width"] is None else f"{s['width']:g}"
    return f"{s['architecture'] or '?'} {width}@{s['resolution'] or '?'} {s['task']} {s['precision'] or '?'}"


def _read_json(path: str | os.PathLike) -> Tuple[Path, Any]:
    p = Path(path)
    if p.is_dir():
        if not (p / "report.json").is_file():
            raise EdgeError(f"{path} has no report.json", _REPORT_HINT)
        p = p / "report.json"
    if not p.is_file():
        raise EdgeError(f"report {path} does not exist", _REPORT_HINT)
    try:
        return p, json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EdgeError(f"{p} is not valid JSON: {e}", _REPORT_HINT) from None


def load_report(path: str | os.PathLike) -> Dict[str, Any]:
    """Read a report.json (or a report directory holding one): kind, schema version, then the full schema."""
    p, data = _read_json(path)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise EdgeError(f"{p} is not an edgemnv2 benchmark report", _REPORT_HINT)
    if data.get("schema_version") not in READABLE_VERSIONS:
        raise EdgeError(f"{p} has report schema version {data.get('schema_version')!r}; this edgemnv2 reads "
                        f"versions {', '.join(map(str, READABLE_VERSIONS))}",
                        "re-run the benchmark with this edgemnv2 version")
    first = _first_schema_error(data)
    if first is not None:
        raise EdgeError(f"{p} does not match the report schema: {first}",
                        "pass an unmodified report.json written by edgemnv2 bench")
    return data


def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))


def _error_text(e: Any) -> str:
    where = "/".join(map(str, e.absolute_path)) or "(top level)"
    msg = " ".join(str(e.message).split())
    return f"{where}: {msg[:200]}{'...' if len(msg) > 200 else ''}"


def _first_schema_error(report: Dict[str, Any]) -> Optional[str]:
    """The most relevant schema violation (jsonschema's best_match), or None when the report is valid."""
    try:
        from jsonschema.exceptions import best_match
    except ImportError:
        raise EdgeError("reading reports needs jsonschema (to check them against the report schema)",
                        PLOTS_HINT) from None
    err = best_match(_validator().iter_errors(report))
    return None if err is None else _error_text(err)


def validate_report(report: Dict[str, Any]) -> List[str]:
    """Schema errors (empty when valid); without jsonschema only the header is checked."""
    try:
        validator = _validator()
    except ImportError:
        if report.get("schema") != SCHEMA or report.get("schema_version") not in READABLE_VERSIONS:
            return ["wrong schema or schema_version"]
        return []
    return [_error_text(e) for e in validator.iter_errors(report)]


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
