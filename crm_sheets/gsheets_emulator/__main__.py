"""python -m crm_sheets.gsheets_emulator --port N: serve the Sheets API emulator until interrupted."""
from __future__ import annotations

import argparse
import sys

from .server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm_sheets.gsheets_emulator",
                                     description="A local Google Sheets API v4 emulator (spreadsheets in memory).")
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--quota-per-minute", type=int, default=60,
                        help="read and write requests allowed per user per minute each (0: no quota; default 60)")
    parser.add_argument("--max-request-bytes", type=int, default=10_485_760,
                        help="largest request body accepted, as the API's 10 MiB limit (0: no limit)")
    parser.add_argument("--discovery", default=None,
                        help="the Sheets v4 discovery document (default: the one google-api-python-client ships)")
    args = parser.parse_args(argv)
    emulator = Emulator(quota_per_minute=args.quota_per_minute, discovery=args.discovery,
                        max_request_bytes=args.max_request_bytes)
    emulator.start(args.host, args.port)
    print(f"Sheets API emulator on {emulator.url} (CRM_SHEETS_GSHEETS_ENDPOINT={emulator.url})", flush=True)
    try:
        emulator.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
