"""`python -m payments {serve,bootstrap}`."""

from __future__ import annotations

import sys

from payments.main import build_app
from payments.settings import PaymentsSettings
from servicekit import ServiceCli

cli = ServiceCli(
    settings_type=PaymentsSettings, build_app=build_app, migrations="payments:migrations"
)


def main() -> None:
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
