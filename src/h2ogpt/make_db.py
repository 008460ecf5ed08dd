"""``python -m h2ogpt.make_db``: h2oGPT's name for the collection builder (see documents/make_db.py)."""

from __future__ import annotations

import sys

from h2ogpt.documents.make_db import main

if __name__ == "__main__":
    sys.exit(main())
