"""catalog's composition root: everything is declared in service.toml."""

from servicekit import ServiceApp

SERVICE = ServiceApp.from_package("catalog")
build_app = SERVICE.build_app
API = SERVICE.api
