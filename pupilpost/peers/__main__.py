"""`python -m pupilpost.peers`: run the SMTP, SMPP and Web Push stand-ins until Ctrl-C."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from dataclasses import replace

from pupilpost.peers.run import PeersConfig, serve_peers


def parse_config(argv: list[str] | None = None) -> PeersConfig:
    """The configuration from the command line (defaults: PeersConfig's)."""
    base = PeersConfig()
    ap = argparse.ArgumentParser(prog="python -m pupilpost.peers", description=__doc__)
    ap.add_argument("--host", default=base.host)
    ap.add_argument("--page-port", type=int, default=base.index_port)
    ap.add_argument("--smtp-port", type=int, default=base.smtp.port)
    ap.add_argument("--smtp-http-port", type=int, default=base.smtp.http_port)
    ap.add_argument("--bounce-target", default=":".join(map(str, base.smtp.bounce_target or ("127.0.0.1", 2526))),
                    help="host:port of the bounce listener that receives DSNs")
    ap.add_argument("--smpp-port", type=int, default=base.smsc.port)
    ap.add_argument("--smpp-http-port", type=int, default=base.smsc.http_port)
    ap.add_argument("--smpp-system-id", default=base.smsc.system_id)
    ap.add_argument("--smpp-password", default=base.smsc.password)
    ap.add_argument("--smpp-max-per-second", type=float, default=None)
    ap.add_argument("--push-port", type=int, default=base.push.port)
    args = ap.parse_args(argv)
    bounce_host, _, bounce_port = args.bounce_target.rpartition(":")
    return replace(
        base, host=args.host, index_port=args.page_port,
        smtp=replace(base.smtp, port=args.smtp_port, http_port=args.smtp_http_port,
                     bounce_target=(bounce_host, int(bounce_port))),
        smsc=replace(base.smsc, port=args.smpp_port, http_port=args.smpp_http_port,
                     system_id=args.smpp_system_id, password=args.smpp_password,
                     max_submits_per_second=args.smpp_max_per_second),
        push=replace(base.push, port=args.push_port))


async def main(config: PeersConfig) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with await serve_peers(config) as peers:
        for name, url in peers.urls().items():
            print(f"{name:>15}  {url}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parse_config()))
