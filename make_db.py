"""h2oGPT's collection builder: ``python make_db.py --user_path=DIR [--collection_name=UserData]``.

A thin entry over :mod:`h2ogpt.documents.make_db` (``--help`` lists every flag); also the
``h2ogpt_make_db`` console script.
"""

from __future__ import annotations

import os
import sys

try:
    import h2ogpt  # noqa: F401
except ImportError:  # running from a checkout that was not pip-installed
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from h2ogpt.documents.make_db import main


def entrypoint_main(argv: list[str] | None = None) -> int:
    return main(argv)


if __name__ == "__main__":
    sys.exit(entrypoint_main())
