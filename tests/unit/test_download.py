"""The download stage against a local HTTP server on 127.0.0.1, plus the registry, manual placement and CLI.

The server supports byte ranges and can misbehave on request: drop the connection after N bytes, answer 5xx a
number of times or always, ignore Range, or redirect. Nothing here reaches the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import socket
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import serving, tar_gz
from vifi.data.acquire import download as dl
from vifi.data.acquire.registry import (
    DatasetSpec,
    FileSpec,
    RegistryError,
    WeightSpec,
    load_registry,
    parse_registry,
)
from vifi.stages import download as download_stage

LOCAL = ("127.0.0.1",)


@dataclass
class Route:
    """What the server does for one path. `fail` statuses are answered first, one per request."""

    body: bytes = b""
    fail: list[int] = field(default_factory=list)
    always: int | None = None
    drop_after: int | None = None  # first request only: send this many bytes, then close the connection
    ignore_range: bool = False
    redirect: str | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        """Keep test output quiet."""

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # clients hang up mid-body or between keep-alive requests
            super().handle()

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Range")))
        route = self.server.routes.get(self.path)
        if route is None:
            self._empty(404)
        elif route.redirect:
            self._empty(302, Location=route.redirect)
        elif route.always is not None:
            self._empty(route.always)
        elif route.fail:
            self._empty(route.fail.pop(0))
        else:
            self._serve(route)

    def _empty(self, code: int, **headers: str) -> None:
        self.send_response(code)
        for key, value in {"Content-Length": "0", **headers}.items():
            self.send_header(key, value)
        self.end_headers()

    def _serve(self, route: Route) -> None:
        body, start = route.body, 0
        wanted = self.headers.get("Range")
        if wanted and not route.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self._empty(416, **{"Content-Range": f"bytes */{len(body)}"})
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if route.drop_after is not None:
            self.wfile.write(body[start : start + route.drop_after])
            self.wfile.flush()
            route.drop_after = None
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body[start:])


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def serve(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.base + path


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    with serving(srv):
        yield srv


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def get(url: str, dest: Path, **kwargs: Any) -> Path:
    """`download` as the tests call it: local http allowed, no waiting between retries."""
    return dl.download(url, dest, allow_insecure=LOCAL, backoff=0, **kwargs)


BODY = os.urandom(1 << 20)


def test_download_verifies_and_publishes(server: _Server, tmp_path: Path) -> None:
    url = server.serve("/UCF101.rar", Route(BODY))
    dest = get(url, tmp_path / "cache" / "UCF101.rar", sha256=sha256(BODY), md5=hashlib.md5(BODY).hexdigest())
    assert dest.read_bytes() == BODY
    assert sorted(p.name for p in dest.parent.iterdir()) == ["UCF101.rar"]


def test_dropped_transfer_resumes_with_range(server: _Server, tmp_path: Path) -> None:
    url = server.serve("/big", Route(BODY, drop_after=400_000))
    dest = get(url, tmp_path / "big", sha256=sha256(BODY))
    assert dest.read_bytes() == BODY
    assert len(server.requests) == 2
    assert server.requests[0][1] is None
    resumed_at = int(server.requests[1][1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 400_000  # it continued from what it had, instead of starting over


def test_partial_file_from_an_earlier_run_is_continued(server: _Server, tmp_path: Path) -> None:
    url = server.serve("/big", Route(BODY))
    (tmp_path / "big.part").write_bytes(BODY[:12345])
    assert get(url, tmp_path / "big", sha256=sha256(BODY)).read_bytes() == BODY
    assert server.requests == [("/big", "bytes=12345-")]


def test_complete_partial_file_is_accepted_after_416(server: _Server, tmp_path: Path) -> None:
    url = server.serve("/big", Route(BODY))
    (tmp_path / "big.part").write_bytes(BODY)
    assert get(url, tmp_path / "big", sha256=sha256(BODY)).read_bytes() == BODY


def test_server_ignoring_range_restarts_from_zero(server: _Server, tmp_path: Path) -> None:
    url = server.serve("/big", Route(BODY, ignore_range=True))
    (tmp_path / "big.part").write_bytes(b"stale bytes")
    assert get(url, tmp_path / "big", sha256=sha256(BODY)).read_bytes() == BODY


@pytest.mark.parametrize("kind", ["sha256", "md5"])
def test_checksum_mismatch_is_rejected_and_deleted(server: _Server, tmp_path: Path, kind: str) -> None:
    url = server.serve("/x.zip", Route(BODY))
    wrong = {"sha256": "0" * 64, "md5": "0" * 32}[kind]
    actual = hashlib.new(kind, BODY).hexdigest()
    with pytest.raises(dl.ChecksumError) as err:
        get(url, tmp_path / "x.zip", **{kind: wrong})
    assert all(s in str(err.value) for s in ("x.zip", f"{kind} mismatch", wrong, actual))
    assert list(tmp_path.iterdir()) == []  # nothing at the final path, no partial left


def test_404_is_final_and_not_retried(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(dl.DownloadError, match=r"not found \(HTTP 404\)"):
        get(server.base + "/gone.rar", tmp_path / "gone.rar", retries=3)
    assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_5xx_is_retried_until_success(server: _Server, tmp_path: Path) -> None:
    url = server.serve("/flaky", Route(BODY, fail=[500, 503, 429]))
    assert get(url, tmp_path / "flaky", retries=3, sha256=sha256(BODY)).read_bytes() == BODY
    assert len(server.requests) == 4


def test_5xx_forever_gives_up_with_a_clear_error(server: _Server, tmp_path: Path) -> None:
    url = server.serve("/down", Route(always=500))
    with pytest.raises(dl.DownloadError, match=r"giving up after 3 attempts; last error: HTTP 500"):
        get(url, tmp_path / "down", retries=2)
    assert len(server.requests) == 3
    assert not (tmp_path / "down").exists()


def test_backoff_grows_exponentially(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(dl.time, "sleep", waits.append)
    url = server.serve("/down", Route(always=502))
    with pytest.raises(dl.DownloadError):
        dl.download(url, tmp_path / "down", retries=3, backoff=0.5, allow_insecure=LOCAL)
    assert waits == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "ftp://example.org/x", "file:///etc/passwd", "x"])
def test_only_https_unless_the_host_is_allowed(server: _Server, tmp_path: Path, url: str) -> None:
    with pytest.raises(dl.DownloadError, match="only https"):
        dl.download(url, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_redirect_to_a_plain_http_host_is_refused(server: _Server, tmp_path: Path) -> None:
    port = server.server_address[1]
    url = server.serve("/moved", Route(redirect=f"http://localhost:{port}/target"))
    server.serve("/target", Route(BODY))
    with pytest.raises(dl.DownloadError, match="only https"):
        get(url, tmp_path / "x", retries=0)
    assert not (tmp_path / "x").exists()


# --- the registry ---------------------------------------------------------------------------------------------


def test_packaged_registry_loads_and_validates() -> None:
    registry = load_registry()
    assert set(registry.datasets) == {"ucf101", "hmdb51", "kinetics400", "kinetics600", "ssv2"}
    assert set(registry.weights) == {"ViT-B-16", "ViT-B-32", "ViT-L-14"}
    assert registry.dataset("ssv2").access == "manual"
    assert registry.dataset("hmdb51").files[0].nested == (".rar",)
    parts = registry.dataset("ssv2").files[1].part_names()
    assert parts[0] == "20bn-something-something-v2-00" and parts[-1] == "20bn-something-something-v2-19"


def test_openai_vit_b16_sha256_is_the_hash_in_its_url() -> None:
    spec = load_registry().weight("ViT-B-16")
    assert spec.url.split("/")[-2] == spec.sha256
    assert spec.sha256 == "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f"
    assert spec.file_name == "ViT-B-16.pt"


def _raw_registry() -> dict[str, Any]:
    return yaml.safe_load(Path(dl.__file__).with_name("registry.yaml").read_text())


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("datasets", "ucf101", "files", 0, "url"), "http://x.org/a.rar", r"datasets\.ucf101\.files\[0\]\.url"),
        (("datasets", "ucf101", "files", 0, "sha256"), "abc", r"files\[0\]\.sha256: expected a lower-case hex"),
        (("datasets", "ucf101", "files", 0, "fromat"), "rar", r"files\[0\]: unknown key\(s\) \['fromat'\]"),
        (("datasets", "ucf101", "files", 0, "format"), "7z", r"files\[0\]\.format: expected one of"),
        (("datasets", "ucf101", "files", 0, "checksum_source"), None, "needs checksum_source"),
        (("datasets", "ucf101", "files", 0, "name"), "../x.rar", r"files\[0\]\.name: expected a relative path"),
        (("datasets", "ucf101", "access"), "sometimes", r"datasets\.ucf101\.access"),
        (("datasets", "ssv2", "files", 1, "parts"), 1, r"ssv2\.files\[1\]\.parts"),
        (("datasets", "kinetics400", "files", 0, "member_format"), "mp4", r"files\[0\]\.member_format"),
        (("weights", "ViT-B-16", "sha256"), "1" * 64, "differs from the sha256 embedded in the URL"),
    ],
)
def test_registry_errors_name_the_entry_and_key(path: tuple[Any, ...], value: Any, message: str) -> None:
    raw = _raw_registry()
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(RegistryError, match=message):
        parse_registry(raw)


def test_manual_dataset_without_url_must_be_declared_manual() -> None:
    raw = _raw_registry()
    raw["datasets"]["ssv2"]["access"] = "download"
    with pytest.raises(RegistryError, match=r"datasets\.ssv2: access is download but"):
        parse_registry(raw)


# --- fetching whole datasets: cache, manual placement, URL lists, installation --------------------------------


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def kinetics_like(server: _Server) -> DatasetSpec:
    """Two tarballs behind a URL list, an annotation CSV and a split zip with a checksum, all served locally."""
    parts = [tar_gz({f"vid{i}_000001_000011.mp4": b"mp4 %d" % i}) for i in range(2)]
    urls = [server.serve(f"/400/train/part_{i}.tar.gz", Route(p)) for i, p in enumerate(parts)]
    listing = server.serve("/400/train/k400_train_path.txt", Route(("\n".join(urls) + "\n").encode()))
    splits = zip_bytes({"lists/train.txt": b"vid0 0\n"})
    return DatasetSpec(
        key="toy",
        title="Toy",
        homepage="https://example.org/toy",
        licence="CC0",
        access="download",
        notes="",
        files=(
            FileSpec(
                "train/k400_train_path.txt", listing, None, None, "url-list", "videos", "train", (), "tar.gz"
            ),
            FileSpec(
                "annotations/train.csv",
                server.serve("/train.csv", Route(b"label,id\n")),
                None,
                None,
                "file",
                "annotations",
            ),
            FileSpec(
                "splits.zip", server.serve("/s.zip", Route(splits)), sha256(splits), None, "zip", "splits"
            ),
        ),
    )


def test_fetch_and_install_a_dataset_then_rerun_from_the_cache(server: _Server, tmp_path: Path) -> None:
    spec = kinetics_like(server)
    found = dl.fetch_dataset(spec, tmp_path / "archives", allow_insecure=LOCAL)
    assert [p.name for p in found["train/k400_train_path.txt"]] == ["part_0.tar.gz", "part_1.tar.gz"]
    out = dl.install_dataset(spec, found, tmp_path / "raw" / "toy")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "annotations/train.csv",
        "lists/train.txt",
        "train/vid0_000001_000011.mp4",
        "train/vid1_000001_000011.mp4",
    ]
    assert (out / "train/vid1_000001_000011.mp4").read_bytes() == b"mp4 1"
    served = len(server.requests)
    assert dl.fetch_dataset(spec, tmp_path / "archives", allow_insecure=LOCAL) == found
    assert len(server.requests) == served  # the cache answered everything


def manual_only() -> DatasetSpec:
    return DatasetSpec(
        key="ssv2ish",
        title="SSv2-like",
        homepage="https://example.org/register",
        licence="research only",
        access="manual",
        notes="Register first.",
        files=(
            FileSpec("labels.zip", None, None, None, "zip", "annotations"),
            FileSpec("videos", None, None, None, "split", "videos", parts=3, part_suffixes=("", ".zip")),
        ),
    )


def test_missing_manual_files_are_named_with_where_to_put_them(tmp_path: Path) -> None:
    (tmp_path / "placed").mkdir()
    (tmp_path / "placed" / "videos-01.zip").write_bytes(zip_bytes({"videos-01": b"x"}))
    with pytest.raises(dl.ManualPlacementError) as err:
        dl.fetch_dataset(manual_only(), tmp_path / "cache", tmp_path / "placed")
    message = str(err.value)
    assert f"Put them under {tmp_path / 'placed'}" in message
    for name in ("labels.zip", "videos-00 or videos-00.zip", "videos-02 or videos-02.zip"):
        assert f"  {name}\n" in message
    assert "videos-01" not in message  # the placed part is found, only the missing ones are listed
    assert "https://example.org/register" in message and "Register first." in message


def test_locate_manual_finds_and_verifies_placed_files(tmp_path: Path) -> None:
    data = tar_gz({"v/1.webm": b"webm"})
    (tmp_path / "labels.zip").write_bytes(zip_bytes({"labels/labels.json": b"{}"}))
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    for i in range(3):
        (tmp_path / f"videos-{i:02d}").write_bytes(data[cuts[i] : cuts[i + 1]])
    found = dl.locate_manual(manual_only(), tmp_path)
    assert [p.name for p in found["videos"]] == ["videos-00", "videos-01", "videos-02"]
    out = dl.install_dataset(manual_only(), found, tmp_path / "out")
    assert (out / "v" / "1.webm").read_bytes() == b"webm"


def test_placed_file_with_wrong_checksum_is_refused_but_kept(tmp_path: Path) -> None:
    spec = replace(manual_only(), files=(FileSpec("a.zip", None, "0" * 64, None, "zip", "videos"),))
    (tmp_path / "a.zip").write_bytes(b"not the published file")
    with pytest.raises(dl.ChecksumError, match=r"a\.zip: sha256 mismatch"):
        dl.locate_manual(spec, tmp_path)
    assert (tmp_path / "a.zip").exists()  # the user's own copy is never deleted


def test_failed_download_suggests_manual_placement(server: _Server, tmp_path: Path) -> None:
    spec = replace(
        manual_only(),
        access="download",
        files=(FileSpec("a.rar", server.base + "/nope", None, None, "rar", "videos"),),
    )
    with pytest.raises(dl.DownloadError, match=r"place it as <DIR>/a\.rar and pass --manual-dir"):
        dl.fetch_dataset(spec, tmp_path, allow_insecure=LOCAL)


# --- the CLI --------------------------------------------------------------------------------------------------


def write_registry(path: Path, dataset_files: list[dict[str, Any]], weight_sha: str) -> Path:
    doc = {
        "datasets": {
            "toy": {
                "title": "Toy",
                "homepage": "https://example.org/toy",
                "licence": "CC0",
                "access": "manual",
                "files": dataset_files,
            }
        },
        "weights": {
            "ViT-T": {
                "arch": "ViT-T/1",
                "url": f"https://example.org/clip/{weight_sha}/ViT-T.pt",
                "sha256": weight_sha,
                "licence": "MIT",
            }
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_cli_installs_a_dataset_placed_by_hand(tmp_path: Path) -> None:
    archive = zip_bytes({"Toy/a.avi": b"avi"})
    placed = tmp_path / "placed"
    placed.mkdir()
    (placed / "toy.zip").write_bytes(archive)
    files = [
        {
            "name": "toy.zip",
            "url": None,
            "sha256": sha256(archive),
            "checksum_source": "test",
            "format": "zip",
            "role": "videos",
        }
    ]
    registry = write_registry(tmp_path / "registry.yaml", files, "0" * 64)
    argv = ["--dataset", "toy", "--registry", str(registry), "--out", str(tmp_path / "raw" / "toy")]
    assert download_stage.main([*argv, "--manual-dir", str(placed), "--cache", str(tmp_path / "archives")]) == 0
    assert (tmp_path / "raw" / "toy" / "Toy" / "a.avi").read_bytes() == b"avi"


def test_cli_reports_missing_files_and_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = [{"name": "toy.zip", "url": None, "format": "zip", "role": "videos"}]
    registry = write_registry(tmp_path / "registry.yaml", files, "0" * 64)
    with caplog.at_level(logging.ERROR):
        code = download_stage.main(
            ["--dataset", "toy", "--registry", str(registry), "--out", str(tmp_path / "out")]
        )
    assert code == 1
    assert "Toy: 1 file(s) missing" in caplog.text and "  toy.zip" in caplog.text
    assert not (tmp_path / "out").exists()


def test_cli_copies_weights_placed_by_hand(tmp_path: Path) -> None:
    weights = os.urandom(4096)
    placed = tmp_path / "placed"
    placed.mkdir()
    (placed / "ViT-T.pt").write_bytes(weights)
    registry = write_registry(
        tmp_path / "registry.yaml", [{"name": "a", "format": "file", "role": "splits"}], sha256(weights)
    )
    out = tmp_path / "checkpoints" / "pretrained" / "ViT-T.pt"
    argv = ["--weights", "ViT-T", "--registry", str(registry), "--out", str(out), "--manual-dir", str(placed)]
    assert download_stage.main([*argv, "--cache", str(tmp_path / "archives")]) == 0
    assert out.read_bytes() == weights
    assert dl.locate_manual(
        WeightSpec("ViT-T", "ViT-T/1", "https://x.org/ViT-T.pt", sha256(weights), "MIT"), placed
    ) == {"ViT-T.pt": [placed / "ViT-T.pt"]}


def test_cli_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert download_stage.main(["--list"]) == 0
    assert "ucf101" in capsys.readouterr().out


def test_cli_requires_out(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        download_stage.main(["--dataset", "ucf101"])
    assert "--out is required" in capsys.readouterr().err
