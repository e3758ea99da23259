"""Named weights: torchvision's download (served from 127.0.0.1 here), its cache and its failures, and
the built-in names (shapes for every task; imagenet / voc only where they exist)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from edgemnv2.errors import EdgeError  # noqa: E402
from edgemnv2.model_source import BuildOptions, resolve_source  # noqa: E402
from edgemnv2.models.zoo import build_model  # noqa: E402
from edgemnv2.pretrained import weights_name  # noqa: E402


@pytest.fixture()
def served(tmp_path):
    """A torchvision-layout MobileNetV2 checkpoint named like torchvision's (sha256 prefix), over HTTP."""
    root = tmp_path / "www"
    root.mkdir()
    model = build_model("classify", 1.0, 1000, 224)
    tmp = root / "tmp.pth"
    torch.save(model.state_dict(), tmp)
    prefix = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    name = f"mobilenet_v2-{prefix}.pth"
    tmp.rename(root / name)
    (root / "mobilenet_v2-00000000.pth").write_bytes((root / name).read_bytes())  # hash does not match its name

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", name, model
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchvision_download_cache_and_load(served, tmp_path, monkeypatch):
    base, name, model = served
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("EDGEMNV2_TORCHVISION_URL", f"{base}/{name}")
    opts = BuildOptions(task="classify", out=tmp_path / "b", weights=Path("torchvision"))
    src = resolve_source(opts)
    cached = tmp_path / "torch_home" / "hub" / "checkpoints" / name
    assert cached.is_file() and src.weights_path == cached and src.origin == "torchvision"
    assert (src.num_classes, src.resolution, src.arch.padding.value) == (1000, 224, "torch")
    for k, v in model.state_dict().items():
        assert torch.equal(src.model.state_dict()[k], v), k
    monkeypatch.setenv("EDGEMNV2_TORCHVISION_URL", f"http://127.0.0.1:{_free_port()}/{name}")  # now offline
    assert resolve_source(opts).weights_path == cached  # served from the cache


def test_torchvision_offline_and_bad_hash_fail_in_one_line(served, tmp_path, monkeypatch, cli):
    base, _name, _model = served
    env = {"TORCH_HOME": str(tmp_path / "th"),
           "EDGEMNV2_TORCHVISION_URL": f"http://127.0.0.1:{_free_port()}/mobilenet_v2-7ebf99e0.pth"}
    r = cli(["build", "--task", "classify", "--weights", "torchvision", "--out", tmp_path / "b"], env=env)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode != 0 and len(errors) == 1 and "offline" in errors[0] and "Traceback" not in r.stderr
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th2"))
    monkeypatch.setenv("EDGEMNV2_TORCHVISION_URL", f"{base}/mobilenet_v2-00000000.pth")
    with pytest.raises(EdgeError, match="failed their check"):
        resolve_source(BuildOptions(task="classify", out=tmp_path / "b", weights=Path("torchvision")))
    assert not list((tmp_path / "th2" / "hub" / "checkpoints").glob("*.pth"))  # nothing half-written kept


def test_builtin_names(tmp_path):
    assert weights_name(Path("shapes")) == "shapes" and weights_name("torchvision") == "torchvision-v2"
    assert weights_name(tmp_path / "shapes") is None  # a path, not a name
    src = resolve_source(BuildOptions(task="detect", out=tmp_path / "b", weights=Path("shapes")))
    assert src.origin == "named" and src.labels[0] == "background" and src.arch.padding.value == "torch"
    with pytest.raises(EdgeError, match="no built-in 'voc' weights for classify"):
        resolve_source(BuildOptions(task="classify", out=tmp_path / "b", weights=Path("voc")))
    with pytest.raises(EdgeError, match="--width-mult 1.0 contradicts"):
        resolve_source(BuildOptions(task="classify", out=tmp_path / "b", weights=Path("shapes"), width_mult=1.0))
