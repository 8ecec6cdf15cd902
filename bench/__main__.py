"""python -m bench <scenario> [--quick] [--database-url URL]"""

from __future__ import annotations

import argparse
import sys

from bench import (
    ceiling,
    connections,
    fanout,
    files,
    history,
    notify,
    search,
    search_peer,
    send,
    suite,
    web,
)

SCENARIOS = {
    "all": suite.main,
    "ceiling": ceiling.main,
    "connections": connections.main,
    "fanout": fanout.main,
    "files": files.main,
    "history": history.main,
    "notify": notify.main,
    "search": search.main,
    "search-peer": search_peer.main,
    "send": send.main,
    "web": web.main,
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="small data, few samples")
    parser.add_argument("--database-url", help="an empty database (default: embedded, fresh)")
    parser.add_argument("--output", help="write the JSON results here")
    parser.add_argument(
        "--no-peer", action="store_true", help="skip the Matrix Synapse runs (send, fanout)"
    )
    parser.add_argument(
        "--messages",
        type=int,
        help="search, search-peer: the corpus's messages (default 1,000,000 / 100,000)",
    )
    args = parser.parse_args()
    return SCENARIOS[args.scenario](args)


if __name__ == "__main__":
    sys.exit(main())
