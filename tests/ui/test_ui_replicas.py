"""Two app processes (UI + API), each with its own --data_dir, on one PostgreSQL and one Chroma
server, as two replicas behind a load balancer: a chat saved through one is listed and
continued through the other, a document uploaded through one is answered from through the
other, users never see each other's data on either, and killing a replica mid-answer loses
no saved chat and no acknowledged document."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from h2ogpt.persistence.chats import ChatStore
from h2ogpt.persistence.database import server_database
from support.chroma import running_chroma
from support.paths import REPO
from support.postgres import PostgresServer
from support.processes import wait_for_ui_url
from support.ui_driver import ANSWER_TIMEOUT_MS, USERS, ask, free_port, login, wait_until_saved

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 300
KEYS = ("replica-key-one", "replica-key-two")
FACT = "The spare key of the Heron boathouse hangs behind the blue lantern."


class Replica:
    """``python generate.py`` serving the UI and the API, on free loopback ports."""

    def __init__(self, data_dir: Path, database_url: str, chroma_url: str) -> None:
        self.ui_port, self.api_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("H2OGPT_", "HF_", "TRANSFORMERS_"))}
        env.update(
            {
                "H2OGPT_DATA_DIR": str(data_dir),
                "H2OGPT_DATABASE_URL": database_url,
                "H2OGPT_CHROMA_URL": chroma_url,
                "H2OGPT_AUTH": ",".join(f"{user}:{password}" for user, password in USERS.items()),
                "H2OGPT_AUTH_ACCESS": "closed",
                "H2OGPT_API_KEYS": ",".join(KEYS),
            }
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "generate.py",
                f"--server_port={self.ui_port}",
                "--openai_server=True",
                f"--openai_port={self.api_port}",
                "--max_new_tokens=16",
                "--n_threads=1",
            ],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = wait_for_ui_url(self.process, STARTUP_SECONDS)
        self.api = f"http://127.0.0.1:{self.api_port}/v1"
        self._wait_for_health()

    def _wait_for_health(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while httpx.get(f"http://127.0.0.1:{self.api_port}/health").status_code != 200:
            assert time.monotonic() < deadline, "the replica's API never turned healthy"
            time.sleep(0.5)

    def http(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.api, headers={"Authorization": f"Bearer {key}"}, timeout=300)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def shared_services(postgres_server: PostgresServer, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(database URL, Chroma URL) that both replicas use."""
    with running_chroma(tmp_path_factory.mktemp("chroma")) as chroma_url:
        yield postgres_server.create_database(), chroma_url


@pytest.fixture(scope="module")
def replicas(shared_services: tuple[str, str], tmp_path_factory) -> Iterator[tuple[Replica, Replica]]:
    database_url, chroma_url = shared_services
    first = Replica(tmp_path_factory.mktemp("replica-a"), database_url, chroma_url)
    try:
        second = Replica(tmp_path_factory.mktemp("replica-b"), database_url, chroma_url)
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def saved_messages(database_url: str, user: str, title: str) -> list[int]:
    """How many messages each of ``user``'s saved chats titled ``title`` holds (read from PostgreSQL)."""
    return [len(c.messages) for c in ChatStore(server_database(database_url)).list(user) if c.title == title]


def test_a_chat_saved_on_one_replica_is_listed_and_continued_on_the_other(pages, replicas, shared_services):
    replica_a, replica_b = replicas
    database_url, _chroma_url = shared_services
    question = "Replicated question about green tea"
    on_a = pages.new()
    login(on_a, replica_a.url, "alice", USERS["alice"])
    ask(on_a, question)
    wait_until_saved(on_a, question)

    on_b = pages.new()
    login(on_b, replica_b.url, "alice", USERS["alice"])
    expect(on_b.locator("#saved-chats")).to_contain_text(question)
    on_b.locator("#saved-chats label").filter(has_text=question).click()
    expect(on_b.locator("#chatbot-0 .message.user")).to_have_count(1)
    ask(on_b, "And a follow-up about milk")
    expect(on_b.locator("#chatbot-0 .message.bot")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    deadline = time.monotonic() + ANSWER_TIMEOUT_MS / 1000
    while saved_messages(database_url, "alice", question) != [4]:  # saved once the answer is complete
        assert time.monotonic() < deadline, saved_messages(database_url, "alice", question)
        time.sleep(0.2)

    on_a.reload()
    expect(on_a.locator("#saved-chats")).to_contain_text(question)  # the page has loaded its list
    on_a.locator("#saved-chats label").filter(has_text=question).click()
    expect(on_a.locator("#chatbot-0")).to_contain_text("follow-up about milk")
    expect(on_a.locator("#saved-chats label")).to_have_count(1)  # continued, not copied

    for replica in replicas:  # bob sees none of alice's chats, on either replica
        bob = pages.new()
        login(bob, replica.url, "bob", USERS["bob"])
        ask(bob, f"Bob's question on port {replica.ui_port}")
        wait_until_saved(bob, f"Bob's question on port {replica.ui_port}")  # his list has loaded
        expect(bob.locator("#saved-chats")).not_to_contain_text("green tea")


def test_a_document_uploaded_on_one_replica_is_answered_on_the_other(replicas, tmp_path: Path):
    replica_a, replica_b = replicas
    note = tmp_path / "boathouse.txt"
    note.write_text(FACT + "\n", encoding="utf-8")
    with replica_a.http(KEYS[0]) as upload:
        files = {"files": (note.name, note.read_bytes(), "text/plain")}
        report = upload.post("/collections/MyData/documents", files=files).json()
    assert [d["status"] for d in report["documents"]] == ["added"]

    with replica_b.http(KEYS[0]) as owner:
        listed = owner.get("/collections/MyData/documents").json()["data"]
        assert [Path(d["source"]).name for d in listed] == ["boathouse.txt"]
    for replica in replicas:  # another key's MyData is its own, on both replicas
        with replica.http(KEYS[1]) as stranger:
            assert stranger.get("/collections/MyData/documents").json()["data"] == []
            found = stranger.post("/collections/MyData/search", json={"query": "Heron boathouse key", "k": 3})
            assert found.json()["data"] == []

    chat = openai.OpenAI(base_url=replica_b.api, api_key=KEYS[0], max_retries=0)
    reply = chat.chat.completions.create(
        model="h2ogpt",
        messages=[{"role": "user", "content": "Where does the spare key of the Heron boathouse hang?"}],
        max_tokens=16,
        extra_body={"langchain_mode": "MyData"},
    )
    sources = reply.model_extra["sources"]
    assert sources and Path(sources[0]["source"]).name == "boathouse.txt"
    assert "blue lantern" in sources[0]["text"]


def test_killing_a_replica_mid_answer_loses_no_saved_chat_and_no_document(replicas, shared_services):
    replica_a, replica_b = replicas
    database_url, _chroma_url = shared_services
    before = ChatStore(server_database(database_url)).list("alice")
    assert before, "the first test saved alice's chat"

    with replica_a.http(KEYS[0]) as http:
        body = {
            "model": "h2ogpt",
            "messages": [{"role": "user", "content": "Count slowly from one to one hundred."}],
            "max_tokens": 400,
            "stream": True,
            "langchain_mode": "MyData",
        }
        with http.stream("POST", "/chat/completions", json=body) as streaming:
            for line in streaming.iter_lines():
                if line.startswith("data: ") and '"content"' in line:
                    replica_a.kill()  # mid-answer: the first tokens are out, the rest never comes
                    break
    assert replica_a.process.returncode == -signal.SIGKILL

    assert ChatStore(server_database(database_url)).list("alice") == before
    with replica_b.http(KEYS[0]) as owner:
        listed = owner.get("/collections/MyData/documents").json()["data"]
        assert [Path(d["source"]).name for d in listed] == ["boathouse.txt"]
        found = owner.post("/collections/MyData/search", json={"query": "Heron boathouse key", "k": 1})
        assert "blue lantern" in found.json()["data"][0]["text"]
    with server_database(database_url).read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM collection_pending")).scalar() == 0
