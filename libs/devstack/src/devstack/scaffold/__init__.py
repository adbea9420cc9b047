"""`python -m devstack.scaffold new NAME` (`make new-service NAME=…`): a new service that works.

It validates the name (`names`), writes the template's files filled in with it (`render`:
the service's package, migration, tests and manifest, its event contract, the registry entry)
and regenerates everything the repository derives from services (`generation`). The result
serves one public route through the gateway, publishes one event through the outbox and
consumes one topic; docs/adding-a-service.md walks through it.
"""

from devstack.scaffold.names import NameRefused, ServiceNames, service_names
from devstack.scaffold.render import RenderedFile, ScaffoldError, rendered_files

__all__ = [
    "NameRefused",
    "RenderedFile",
    "ScaffoldError",
    "ServiceNames",
    "rendered_files",
    "service_names",
]
