"""``python -m h2ogpt.make_db``: ingest a folder into a collection, as h2oGPT's make_db does.

    python -m h2ogpt.make_db --user_path=DIR [--collection_name=UserData] [--data_dir=DIR] [--json]

Prints a summary (documents ingested, unchanged, failed with the reason, chunks) or, with
``--json``, one JSON object. Exit codes: 0 done (some files may have failed, see the summary),
1 nothing could be ingested, 2 bad input.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from h2ogpt.entry import run_entry
from h2ogpt.errors import ConfigError
from h2ogpt.settings import Settings

PROGRAM = "python -m h2ogpt.make_db"

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*shadows an attribute.*")

    class MakeDbSettings(Settings):
        """Settings plus the two make_db options."""

        collection_name: str = Field("UserData", description="Collection to fill (created if new).")
        json: bool = Field(False, description="Print the result as one JSON object instead of a summary.")


def summary_lines(report_dict: dict) -> list[str]:
    docs = report_dict["documents"]
    counts = {s: sum(d["status"] == s for d in docs) for s in ("added", "replaced", "unchanged", "failed")}
    lines = [
        f"collection {report_dict['collection']}: {report_dict['files_ok']} files ok "
        f"({counts['added']} added, {counts['replaced']} replaced, {counts['unchanged']} unchanged), "
        f"{report_dict['files_failed']} failed, {report_dict['chunks_added']} chunks added "
        f"in {report_dict['seconds']:.1f} s"
    ]
    lines += [f"  failed: {d['source']}: {d['reason']}" for d in docs if d["status"] == "failed"]
    lines += [
        f"  note: {d['source']}: {d['reason']}" for d in docs if d["status"] != "failed" and d["reason"]
    ]
    return lines


def start(settings: Settings) -> int:
    from h2ogpt.documents import DocumentStore

    assert isinstance(settings, MakeDbSettings)
    if not settings.user_path:
        raise ConfigError("--user_path is required: the folder (or file) to ingest")
    if not Path(settings.user_path).expanduser().exists():
        raise ConfigError(f"--user_path={settings.user_path}: no such file or folder")
    store = DocumentStore(settings)
    try:
        report = store.ingest(
            [settings.user_path], collection=settings.collection_name, show_progress=not settings.json
        )
        documents, chunks = store.registry.open(
            store.registry.resolve(settings.collection_name, None)
        ).catalog.totals()
    finally:
        store.close()
    result = report.to_dict() | {"collection_documents": documents, "collection_chunks": chunks}
    if settings.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print("\n".join(summary_lines(result)))
        print(f"collection {settings.collection_name} now holds {documents} documents, {chunks} chunks")
    return 1 if report.failed and not report.ok else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_entry(PROGRAM, argv, start, settings_class=MakeDbSettings)


if __name__ == "__main__":
    sys.exit(main())
