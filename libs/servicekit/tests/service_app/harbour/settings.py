from __future__ import annotations

from servicekit import ServiceSettings
from servicekit.events import InboxRetentionSettings
from servicekit.http import DownstreamSettings


class HarbourSettings(ServiceSettings, DownstreamSettings, InboxRetentionSettings):
    service_name: str = "harbour"
    db_schema: str = "harbour"
    jwks_url: str = "http://127.0.0.1:9/.well-known/jwks.json"
    jwt_issuer: str = "flotilla-identity"
    jwt_audience: str = "flotilla"


class BareSettings(ServiceSettings):
    """Without the JWKS fields, the inbox retention or the downstreams the manifest needs."""

    service_name: str = "harbour"
    db_schema: str = "harbour"
