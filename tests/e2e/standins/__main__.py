"""``python -m tests.e2e.standins <random|tls> <engine address> ...``: what a launcher runs."""

from __future__ import annotations

import sys

from tests.e2e.standins import PROVIDERS
from tests.e2e.standins.server import serve

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in PROVIDERS:
        sys.exit(f"usage: python -m tests.e2e.standins {{{'|'.join(PROVIDERS)}}} [engine address]")
    serve(PROVIDERS[sys.argv[1]], sys.argv[2:])
