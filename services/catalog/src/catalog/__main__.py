"""`python -m catalog {serve,bootstrap,...}`: the commands its service.toml declares."""

import sys

from catalog.main import SERVICE


def main() -> None:
    sys.exit(SERVICE.cli().main())


if __name__ == "__main__":
    main()
