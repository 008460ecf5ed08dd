"""Container HEALTHCHECK: exit 0 when the API's GET /health answers 200 (the model is loaded).

The image has no curl; the standard library is enough. The port follows H2OGPT_OPENAI_PORT.
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("H2OGPT_OPENAI_PORT", "5000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:  # 503 while loading, refused before start
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
