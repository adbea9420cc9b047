from __future__ import annotations

from servicekit import ServiceSettings
from servicekit.auth import JwksSettings
from servicekit.events import InboxRetentionSettings
from servicekit.http import DownstreamSettings


class HarbourSettings(ServiceSettings, JwksSettings, DownstreamSettings, InboxRetentionSettings):
    service_name: str = "harbour"
    db_schema: str = "harbour"
    jwks_url: str = "http://127.0.0.1:9/.well-known/jwks.json"


class BareSettings(ServiceSettings):
    """Without JwksSettings, the inbox retention or the downstreams the manifest needs."""

    service_name: str = "harbour"
    db_schema: str = "harbour"
