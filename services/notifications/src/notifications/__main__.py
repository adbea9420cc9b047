"""`python -m notifications {serve,bootstrap}`."""

from __future__ import annotations

import sys

from notifications.main import build_app
from notifications.settings import NotificationsSettings
from servicekit import ServiceCli

cli = ServiceCli(
    settings_type=NotificationsSettings,
    build_app=build_app,
    migrations="notifications:migrations",
)


def main() -> None:
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
