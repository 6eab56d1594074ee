"""Downloads of deepmath.datasets against a real HTTP server on 127.0.0.1: a verified file
lands in the cache; a checksum mismatch, a connection dropped mid-file, a missing file or a
server that is down raise a clear error and leave nothing behind (neither the file nor its
temporary)."""
import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from deepmath.datasets import _files, mnist
from deepmath.datasets._files import DatasetDownloadError, DatasetFileError

PAYLOAD = bytes(range(256)) * 1000  # 256 kB: several chunks


class Handler(http.server.BaseHTTPRequestHandler):
    files = {}  # path -> bytes served whole
    dropped = {}  # path -> bytes announced, half of which is sent before the close

    def do_GET(self):
        if self.path in self.files:
            self._send(self.files[self.path], len(self.files[self.path]))
        elif self.path in self.dropped:
            data = self.dropped[self.path]
            self._send(data[: len(data) // 2], len(data))
            self.close_connection = True
        else:
            self.send_error(404)

    def _send(self, body, length):
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server():
    """A local HTTP server; yields its base URL; Handler.files / dropped set its content."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    Handler.files, Handler.dropped = {}, {}


def closed_port_url():
    """The URL of a port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def entry(data):
    return (len(data), "sha256", hashlib.sha256(data).hexdigest())


def test_good_download_is_verified_and_in_place(server, tmp_path):
    Handler.files = {"/blob.bin": PAYLOAD}
    paths = _files.ensure_files("toy", {"blob.bin": entry(PAYLOAD)}, server, tmp_path,
                                verbose=0)
    assert paths["blob.bin"] == tmp_path / "blob.bin"
    assert (tmp_path / "blob.bin").read_bytes() == PAYLOAD
    assert _files.file_digest(tmp_path / "blob.bin") == entry(PAYLOAD)[2]
    assert [p.name for p in tmp_path.iterdir()] == ["blob.bin"]  # no temporary left
    Handler.files = {}  # a file already there is not downloaded again
    assert _files.ensure_files("toy", {"blob.bin": entry(PAYLOAD)}, server, tmp_path,
                               verbose=0)["blob.bin"].read_bytes() == PAYLOAD


def test_md5_entries_and_progress_bar(server, tmp_path, capsys):
    Handler.files = {"/words.json": b'{"the": 1}'}
    md5 = hashlib.md5(b'{"the": 1}').hexdigest()
    _files.download(server + "words.json", tmp_path / "words.json", (None, "md5", md5))
    assert (tmp_path / "words.json").read_bytes() == b'{"the": 1}'
    assert "10/10" in capsys.readouterr().out  # Progbar with Content-Length as its target


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    Handler.files = {"/blob.bin": PAYLOAD}
    bad = (len(PAYLOAD), "sha256", "0" * 64)
    with pytest.raises(DatasetFileError, match="blob.bin: sha256 checksum mismatch") as info:
        _files.ensure_files("toy", {"blob.bin": bad}, server, tmp_path, verbose=0)
    assert hashlib.sha256(PAYLOAD).hexdigest() in str(info.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DatasetFileError, match=f"downloaded {len(PAYLOAD)} bytes, expected 5"):
        _files.download(server + "blob.bin", tmp_path / "blob.bin", (5, "sha256", "0" * 64))
    assert list(tmp_path.iterdir()) == []


def test_connection_dropped_mid_file_leaves_nothing(server, tmp_path):
    Handler.dropped = {"/blob.bin": PAYLOAD}
    with pytest.raises(DatasetDownloadError,
                       match=f"stopped after {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes"):
        _files.ensure_files("toy", {"blob.bin": entry(PAYLOAD)}, server, tmp_path, verbose=0)
    assert list(tmp_path.iterdir()) == []


def test_missing_on_server_is_a_download_error(server, tmp_path):
    with pytest.raises(DatasetDownloadError, match="Not Found"):
        _files.download(server + "nothing.bin", tmp_path / "nothing.bin", entry(b""))
    assert list(tmp_path.iterdir()) == []


def test_server_down_gives_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPMATH_DATASETS_URL", closed_port_url())
    folder = tmp_path / "m"
    with pytest.raises(DatasetDownloadError) as info:
        mnist.load_data(data_dir=folder, verbose=0)
    message = str(info.value)
    assert message.startswith("The mnist files are missing and could not be downloaded")
    assert message.endswith(".") and "127.0.0.1" in message
    assert message.count(". ") == 0 and "\n" not in message  # one sentence
    for name in mnist.FILES:
        assert name in message
    assert str(folder) in message and "DEEPMATH_DATA" in message
    assert not folder.exists() or list(folder.iterdir()) == []


def _idx_gz(array):
    header = (0x800 + array.ndim).to_bytes(4, "big")
    header += b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes())


def test_mnist_downloads_missing_files_through_the_mirror(server, tmp_path, monkeypatch):
    """End to end: files missing from the cache are fetched from BASE_URL, verified against
    the (patched) FILES table, then parsed."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    y = np.array([1, 7, 3, 9], np.uint8)
    blobs = {mnist.TRAIN_IMAGES: _idx_gz(x), mnist.TRAIN_LABELS: _idx_gz(y),
             mnist.TEST_IMAGES: _idx_gz(x[:2]), mnist.TEST_LABELS: _idx_gz(y[:2])}
    Handler.files = {"/mirror/" + name: data for name, data in blobs.items()}
    monkeypatch.delenv("DEEPMATH_DATASETS_URL", raising=False)
    monkeypatch.setenv("DEEPMATH_DATA", str(tmp_path))
    monkeypatch.setattr(mnist, "BASE_URL", server + "mirror")
    monkeypatch.setattr(mnist, "FILES", {name: entry(d) for name, d in blobs.items()})
    (x_train, y_train), (x_test, y_test) = mnist.load_data(verbose=0)
    np.testing.assert_array_equal(x_train, x)
    np.testing.assert_array_equal(y_test, y[:2])
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(blobs)
