"""``python make_db.py`` (or ``h2ogpt_make_db``): ingest a folder into a collection, as h2oGPT's
make_db does.

    python make_db.py --user_path=DIR [--collection_name=UserData] [--data_dir=DIR] [--json_output]

Prints a summary (documents ingested, unchanged, failed with the reason, chunks) or, with
``--json``, one JSON object. Exit codes: 0 done (some files may have failed, see the summary),
1 nothing could be ingested, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from h2ogpt.cli.entry import run_entry
from h2ogpt.documents.options import DocumentOptions
from h2ogpt.errors import ConfigError
from h2ogpt.settings import ComposedSettings, RuntimeOptions, SpeechOptions, StorageOptions

PROGRAM = "make_db.py"


class MakeDbOptions(BaseModel):
    """What to fill and how to report it."""

    model_config = ConfigDict(extra="forbid")

    collection_name: str = Field("UserData", description="Collection to fill (created if new).")
    json_output: bool = Field(False, description="Print the result as one JSON object instead of a summary.")


class MakeDbSettings(
    ComposedSettings, DocumentOptions, SpeechOptions, StorageOptions, RuntimeOptions, MakeDbOptions
):
    """Every option of make_db: the document, speech (audio files) and storage groups of Settings
    plus its own."""

    flag_aliases: ClassVar[dict[str, str]] = {"json": "json_output"}  # its earlier name


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


def start(settings: MakeDbSettings) -> int:
    from h2ogpt.documents.library import DocumentLibrary

    if not settings.user_path:
        raise ConfigError("--user_path is required: the folder (or file) to ingest")
    if not Path(settings.user_path).expanduser().exists():
        raise ConfigError(f"--user_path={settings.user_path}: no such file or folder")
    library = DocumentLibrary(settings)
    try:
        report = library.ingest(
            [settings.user_path], collection=settings.collection_name, show_progress=not settings.json_output
        )
        documents, chunks = library.registry.open(
            library.registry.resolve(settings.collection_name, None)
        ).catalog.totals()
    finally:
        library.close()
    result = report.to_dict() | {"collection_documents": documents, "collection_chunks": chunks}
    if settings.json_output:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print("\n".join(summary_lines(result)))
        print(f"collection {settings.collection_name} now holds {documents} documents, {chunks} chunks")
    return 1 if report.failed and not report.ok else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_entry(PROGRAM, argv, start, settings_class=MakeDbSettings)


if __name__ == "__main__":
    sys.exit(main())
