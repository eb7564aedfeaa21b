"""The index in a Chroma server (QUANTUTOR_CHROMA_URL): a real `chroma run`, on loopback.

The server ships in the chromadb package, so this runs offline like the embedded tests.
"""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knowledge.errors import IndexUnavailable
from knowledge.index import KnowledgeIndex

NOTE = "---\ntitle: {t}\nsource: Test\nurl: ''\nlicense: x\n---\n# {t}\n\nGGUF Q5_K_S files {t}.\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    port = free_port()
    server = subprocess.Popen(
        [Path(sys.executable).parent / "chroma", "run", "--path", tmp_path_factory.mktemp("srv")]
        + ["--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("the Chroma server did not start within 30 s")
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


def test_a_server_index_syncs_incrementally_and_finds_chunks(chroma_url, tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "a.md").write_text(NOTE.format(t="Alpha"))
    (folder / "b.md").write_text(NOTE.format(t="Beta"))
    index = KnowledgeIndex(tmp_path / "index", [(folder, "user")], chroma_url)
    assert index.sync(progress=False).added == 2
    assert not (tmp_path / "index" / "chroma").exists()  # the vectors are on the server
    again = KnowledgeIndex(tmp_path / "index", [(folder, "user")], chroma_url)
    assert (again.sync(progress=False).added, len(again.chunks)) == (0, 2)
    (folder / "b.md").write_text(NOTE.format(t="Gamma"))
    assert index.sync(progress=False).added == 1
    assert "Gamma" in {h.chunk.title for h in index.search("GGUF Q5_K_S files Gamma", k=4)}


def test_an_unreachable_server_is_a_clear_error_and_nothing_is_deleted(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(IndexUnavailable, match=f"QUANTUTOR_CHROMA_URL: .*{url}"):
        KnowledgeIndex(tmp_path / "index", [], url)
