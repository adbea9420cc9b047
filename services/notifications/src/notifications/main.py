"""notifications's composition root: everything is declared in service.toml."""

from servicekit import ServiceApp

SERVICE = ServiceApp.from_package("notifications")
build_app = SERVICE.build_app
API = SERVICE.api
