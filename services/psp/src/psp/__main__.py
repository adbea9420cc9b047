"""`python -m psp {serve,bootstrap}`."""

from __future__ import annotations

import sys

from psp.main import build_app
from psp.settings import PspSettings
from servicekit import ServiceCli

cli = ServiceCli(settings_type=PspSettings, build_app=build_app, migrations="psp:migrations")


def main() -> None:
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
