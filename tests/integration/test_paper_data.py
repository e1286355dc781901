"""Paper mode's raw data path on a tiny "real" dataset, served over HTTPS from 127.0.0.1.

A registry YAML (`data.registry`) describes `ucf101` as a tar.gz of short H.264 videos, one of them zero bytes,
plus UCF-101's split files as published (ucfTrainTestlist/), and a CLIP checkpoint `ViT-T`, all with their
sha256. In a throwaway git+DVC copy of the repository, Snakemake downloads, verifies and installs them,
extracts frames and applies the quarantine threshold; DVC pushes the raw data and the downloaded weights to
the default remote and pulls them back.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import functools
import hashlib
import ipaddress
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import run, serving, tar_gz
from tests.integration.conftest import SMOKE, copy_checkout, merged_params
from vifi.data.frames.store import FrameStore
from vifi.data.lists.official import Video, write_annotations
from vifi.data.synthetic.encode import write_mp4

pytestmark = pytest.mark.integration

CLASSES = [
    "ApplyEyeMakeup",
    "ApplyLipstick",
    "Archery",
    "BabyCrawling",
]  # UCF-101 classes, as the paper names them
BROKEN = "UCF-101/BabyCrawling/v_BabyCrawling_g09_c01.avi"  # zero bytes: 1 of the 13 videos
WEIGHTS = b"a stand-in for a CLIP checkpoint"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_videos(folder: Path) -> dict[str, bytes]:
    """Three short H.264 clips per class (v0, v1 for training, v2 for validation) and the broken file."""
    rng = np.random.default_rng(0)
    videos = {}
    for label, name in enumerate(CLASSES):
        for i in range(3):
            clip = np.full((6, 32, 32, 3), 50 * label, np.uint8) + rng.integers(0, 40, (6, 32, 32, 3), np.uint8)
            path = folder / f"{name}-{i}.mp4"
            write_mp4(path, clip, fps=8, crf=30)
            videos[f"UCF-101/{name}/v_{name}_g0{i + 1}_c01.mp4"] = path.read_bytes()
    videos[BROKEN] = b""
    return videos


def served_files(videos: dict[str, bytes], tmp: Path) -> dict[str, bytes]:
    """What the publisher serves: the video archive, UCF-101's split files as published, the checkpoint."""
    listed = [k for k in videos if k != BROKEN]
    splits = {
        "train1": [Video(Path(k).name, k.split("/")[1]) for k in listed if "_g03_" not in k],
        "val1": [Video(Path(k).name, k.split("/")[1]) for k in listed if "_g03_" in k],
    }
    write_annotations("ucf101", tmp, CLASSES, splits)
    notes = {f"ucfTrainTestlist/{p.name}": p.read_bytes() for p in (tmp / "ucfTrainTestlist").iterdir()}
    return {"tiny-videos.tar.gz": tar_gz(videos), **notes, "clip/ViT-T.pt": WEIGHTS}


def registry(url: str, files: dict[str, bytes]) -> dict[str, Any]:
    """A registry in the packaged one's format, whose `ucf101` is the tiny dataset."""

    def entry(name: str, fmt: str, role: str, **extra: str) -> dict[str, Any]:
        checksum = {"sha256": sha256(files[name]), "checksum_source": "the test's own files"}
        return {"name": name, "url": f"{url}/{name}", **checksum, "format": fmt, "role": role, **extra}

    annotations = [entry(name, "file", "splits") for name in files if name.startswith("ucfTrainTestlist/")]
    return {
        "datasets": {
            "ucf101": {
                "title": "Tiny UCF",
                "homepage": "https://example.org/tiny",
                "licence": "CC0",
                "access": "download",
                "files": [entry("tiny-videos.tar.gz", "tar.gz", "videos", extract_to="videos"), *annotations],
            }
        },
        "weights": {
            "ViT-T": {
                "arch": "ViT-T/1",
                "url": f"{url}/clip/ViT-T.pt",
                "sha256": sha256(WEIGHTS),
                "licence": "CC0",
            }
        },
    }


def paper_params() -> dict[str, Any]:
    """The smoke config in paper mode: ucf101 real from the test registry, weights from the registry too."""
    params = merged_params(SMOKE)
    params["mode"] = "paper"
    params["data"].update(
        source={"ucf101": "real"}, registry="tiny-registry.yaml", max_quarantined_fraction=0.1
    )
    params["model"]["weights"] = "checkpoints/pretrained/ViT-T.pt"
    params["extract"]["shards"] = 2
    # Fully supervised lists take the classes a list names; a base-to-novel split needs all 101 of the paper's.
    params["protocols"] = ["fullsup"]
    params["fullsup"]["grid"] = {"ucf101": ["vifi"]}
    return params


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, trusted by the download stage through REQUESTS_CA_BUNDLE."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path.write_bytes(pem)
    return cert_path, key_path


@contextlib.contextmanager
def https_server(root: Path, cert: Path, key: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve `root` over HTTPS on 127.0.0.1; yield the base URL and the list of paths requested so far."""
    requested: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            requested.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield f"https://127.0.0.1:{server.server_address[1]}", requested


def write_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class PaperRun:
    repo: Path
    videos: dict[str, bytes]
    files: dict[str, bytes]
    requested: list[str]
    dry_run: str
    strict: subprocess.CompletedProcess
    splits_after_strict: bool


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperRun]:
    """Dry run with a synthetic k400 beside the real ucf101, a run whose quarantine threshold is too strict,
    then `dvc repro prepare` with the threshold of params.yaml."""
    base = tmp_path_factory.mktemp("paper")
    (base / "encoded").mkdir()
    videos = encode_videos(base / "encoded")
    files = served_files(videos, base / "annotations")
    for name, data in files.items():
        (base / "served" / name).parent.mkdir(parents=True, exist_ok=True)
        (base / "served" / name).write_bytes(data)
    cert, key = self_signed_cert(base)
    k400 = {"role": "source", "classes": 4, "train_per_class": [2, 3], "val_per_class": 1, "splits": 1}
    mixed = write_yaml(
        base / "mixed.yaml",
        {
            "fullsup": {"grid": {"ucf101": ["vifi"], "k400": ["vifi"]}},
            "synthetic": {"datasets": {"k400": k400}},
        },
    )
    strict = write_yaml(base / "strict.yaml", {"data": {"max_quarantined_fraction": 0.05}})
    with https_server(base / "served", cert, key) as (url, requested), pytest.MonkeyPatch.context() as env:
        env.setenv("REQUESTS_CA_BUNDLE", str(cert))
        repo = base / "repo"
        copy_checkout(repo)
        write_yaml(repo / "tiny-registry.yaml", registry(url, files))
        write_yaml(repo / "params.yaml", paper_params())
        run(["git", "init", "-q"], cwd=repo)
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-qm", "paper data"], cwd=repo)
        dry = run(["snakemake", "-n", "-p", "data_all", "pretrain_all", "--configfile", str(mixed)], cwd=repo)
        failed = run(["snakemake", "data_all", "--configfile", str(strict)], cwd=repo, check=False)
        splits_after_strict = (repo / "data/splits/ucf101").exists()
        run(["dvc", "repro", "prepare"], cwd=repo)
        yield PaperRun(repo, videos, files, requested, dry.stdout + dry.stderr, failed, splits_after_strict)


def test_dry_run_downloads_the_real_dataset_and_synthesizes_only_the_others(paper: PaperRun) -> None:
    assert re.findall(r"python -m vifi synthesize --name (\S+)", paper.dry_run) == ["k400"], paper.dry_run
    downloads = re.findall(r"python -m vifi download --dataset ucf101 .*", paper.dry_run)
    assert downloads and all("--registry tiny-registry.yaml " in c for c in downloads), paper.dry_run
    assert "python -m vifi download --weights ViT-T " in paper.dry_run
    assert "vifi pretrain" not in paper.dry_run and "vifi stills" not in paper.dry_run


def test_download_is_verified_installed_and_cached(paper: PaperRun) -> None:
    raw = paper.repo / "data/raw/ucf101"
    for key, data in paper.videos.items():
        assert (raw / "videos" / key).read_bytes() == data, key
    trainlist = "ucfTrainTestlist/trainlist01.txt"
    assert (raw / trainlist).read_bytes() == paper.files[trainlist] and b"\r\n" in paper.files[trainlist]
    archive = paper.repo / "data/archives/ucf101/tiny-videos.tar.gz"
    assert archive.read_bytes() == paper.files["tiny-videos.tar.gz"]
    assert paper.requested.count("/tiny-videos.tar.gz") == 1  # the second run reused the installed dataset
    assert (paper.repo / "checkpoints/pretrained/ViT-T.pt").read_bytes() == WEIGHTS


def test_frames_are_extracted_and_the_broken_video_is_quarantined(paper: PaperRun) -> None:
    frames = paper.repo / "data/frames/ucf101"
    store = FrameStore(sorted(frames.glob("shard-*-of-2.bin")))
    assert store.keys() == sorted(k for k in paper.videos if k != BROKEN)
    with open(frames / "quarantine.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{"video": BROKEN, "reason": store.failed[BROKEN]}]
    assert "empty" in rows[0]["reason"]
    assert (paper.repo / "data/splits/ucf101/full/val.txt").read_text().count("\n") == 4


def test_too_many_quarantined_videos_stop_the_run_before_the_splits(paper: PaperRun) -> None:
    out = paper.strict.stdout + paper.strict.stderr
    assert paper.strict.returncode != 0
    assert "Error in rule quarantine" in out and "dataset=ucf101" in out, out
    assert "1 of 13 videos were quarantined" in out and "threshold 0.0500" in out and BROKEN in out, out
    assert not paper.splits_after_strict


def digests(folders: list[Path]) -> dict[str, str]:
    return {
        str(p): sha256(p.read_bytes()) for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_dvc_push_then_pull_restores_raw_data_and_weights(paper: PaperRun) -> None:
    tracked = [paper.repo / "data/raw", paper.repo / "checkpoints/pretrained"]
    before = digests(tracked)
    assert str(paper.repo / "data/raw/ucf101/videos" / BROKEN) in before
    run(["dvc", "push", "prepare"], cwd=paper.repo)
    for folder in tracked:
        shutil.rmtree(folder)
    run(["dvc", "pull", "prepare"], cwd=paper.repo)
    assert digests(tracked) == before
