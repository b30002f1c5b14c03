"""Run a simulator in the foreground: ``python -m connectors.simulators github --port 8001 …``.

Prints the base URL as the first line of output, then stops cleanly on SIGTERM or Ctrl-C. A
simulator module plugs in as a sub-command by providing ``add_arguments(parser)`` and
``build(args) -> Simulator``; list it in ``SIMULATORS``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from importlib import import_module

SIMULATORS: dict[str, tuple[str, str]] = {
    "github": ("GitHub REST API (github.com and Enterprise Server under /api/v3)", "connectors.simulators.github"),
    "harbor": ("Harbor API v2.0", "connectors.simulators.harbor"),
    "dockerhub": ("Docker Hub API", "connectors.simulators.dockerhub"),
    "quay": ("Quay API (quay.io and Red Hat Quay, /api/v1)", "connectors.simulators.quay"),
    "artifactory": ("JFrog Artifactory REST API (/artifactory/api, /access/api)", "connectors.simulators.artifactory"),
    "jenkins": ("Jenkins (role-strategy, matrix and folder authorization)", "connectors.simulators.jenkins"),
    "gitlab": ("GitLab REST API v4", "connectors.simulators.gitlab"),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m connectors.simulators", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, (label, module_name) in SIMULATORS.items():
        sub = commands.add_parser(kind, help=label, description=label)
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=0, help="0 picks a free port")
        import_module(module_name).add_arguments(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    simulator = import_module(SIMULATORS[args.kind][1]).build(args)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    simulator.start()
    try:
        sys.stdout.write(simulator.url + "\n")
        for line in simulator.describe():
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        stop.wait()
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
