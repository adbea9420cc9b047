"""`python -m orders {serve,bootstrap}`."""

from __future__ import annotations

import sys

from orders.main import build_app
from orders.settings import OrdersSettings
from servicekit import ServiceCli

cli = ServiceCli(
    settings_type=OrdersSettings,
    build_app=build_app,
    migrations="orders:migrations",
)


def main() -> None:
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
