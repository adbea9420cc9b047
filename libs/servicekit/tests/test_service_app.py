"""A service is built from its manifest (`ServiceApp`), and a manifest whose references do not
hold is refused at build, naming the key and the reference.

The service is `harbour`, a package of this folder's (`service_app/harbour`) that exists only
for these tests: its manifest uses every kind of reference. Nothing is started: building an
app opens no connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.manifest import ManifestError, ServiceManifest
from servicekit import ServiceApp, ServiceContext
from servicekit.events import EventConsumer
from servicekit.http import ResilientClient

pytestmark = pytest.mark.unit

PACKAGES = Path(__file__).parent / "service_app"


@pytest.fixture(autouse=True)
def _harbour_importable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(PACKAGES))
    monkeypatch.setenv("FLOTILLA_TOPICS_FILE", str(PACKAGES / "harbour" / "topics.yaml"))
    return


@pytest.fixture
def harbour() -> ServiceApp:
    return ServiceApp.from_package("harbour")


def settings(service: ServiceApp, **fields: Any) -> Any:
    return service.settings_type(
        database_url="postgresql+asyncpg://harbour:secret@127.0.0.1:9/flotilla",
        kafka_bootstrap_servers="127.0.0.1:9",
        downstreams={"identity": {"base_url": "http://127.0.0.1:9"}},
        **fields,
    )


def with_manifest(service: ServiceApp, **changes: Any) -> ServiceApp:
    """harbour with some manifest entries changed (`consumer` entries merged into its own)."""
    raw = service.manifest.model_dump()
    raw["consumer"] = {**raw["consumer"], **changes.pop("consumer", {})}
    return ServiceApp(ServiceManifest.model_validate({**raw, **changes}, strict=False))


def test_the_app_has_what_the_manifest_declares(harbour: ServiceApp) -> None:
    from harbour.tasks import STARTED

    app = harbour.build_app(settings(harbour))

    assert "/v1/berths" in {getattr(route, "path", None) for route in app.routes}
    assert app.title == "Flotilla harbour"
    assert app.state.outbox is not None  # it publishes
    assert [check.name for check in app.state.health.checks] == ["database", "kafka"]
    context = app.state.harbour_context  # the wiring ran, with the context the others had
    assert isinstance(context, ServiceContext)
    assert STARTED[-1] is context
    assert context.outbox is app.state.outbox
    assert isinstance(context.downstream["identity"], ResilientClient)
    assert harbour.api.document()["paths"].keys() == {"/v1/berths"}


def test_the_consumer_is_the_topic_file_s_group_with_the_settings_tuning(
    harbour: ServiceApp,
) -> None:
    app = harbour.build_app(settings(harbour, consumer_in_place_attempts=2))
    context: ServiceContext[Any] = app.state.harbour_context

    consumer = harbour.consumer(context)

    assert isinstance(consumer, EventConsumer)
    assert (consumer.group, consumer.topics) == ("harbour", ("identity.user",))
    assert consumer.registry.topics == {"identity.user"}
    assert consumer.policy.retry_delays_s == (1.0,)  # the topic file's
    assert consumer.policy.in_place_attempts == 2  # the settings'


async def test_what_the_factories_give_to_at_shutdown_is_closed_as_the_app_stops(
    harbour: ServiceApp,
) -> None:
    app = harbour.build_app(settings(harbour))
    context: ServiceContext[Any] = app.state.harbour_context
    closed: list[str] = []

    async def close_mailer() -> None:
        closed.append("mailer")

    async def close_broken() -> None:
        raise RuntimeError("already gone")

    async def close_cache() -> None:
        closed.append("cache")

    for close in (close_mailer, close_broken, close_cache):
        context.at_shutdown(close)
    async with context.lifespan(app):  # one of the app's lifespan hooks, left after the consumer
        assert closed == []
    assert closed == ["cache", "mailer"]  # the last given first; a failure (logged) stops none


def test_the_commands_are_the_manifest_s(harbour: ServiceApp, capsys: Any) -> None:
    with pytest.raises(SystemExit):
        harbour.cli().main(["--help"])
    usage = capsys.readouterr().out
    assert "python -m harbour" in usage
    assert "{serve,bootstrap,hello}" in usage
    assert "say hello" in usage


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        (
            {"routers": ["harbour.quay:router"]},
            "routers: 'harbour.quay:router' does not import: ModuleNotFoundError",
        ),
        (
            {"routers": ["harbour.api:berths"]},
            "routers: 'harbour.api:berths' names nothing: harbour.api has no 'berths'",
        ),
        (
            {"routers": ["harbour.api:make_router"]},
            "routers: 'harbour.api:make_router' is a function, not a fastapi.routing.APIRouter",
        ),
    ],
)
def test_a_router_reference_that_does_not_hold_is_refused(
    harbour: ServiceApp, changes: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(ManifestError, match=refusal):
        _ = with_manifest(harbour, **changes).api


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        (
            {"settings": "harbour.api:router"},
            "settings: 'harbour.api:router' is an APIRouter, not a subclass of ServiceSettings",
        ),
        (
            {"wiring": "harbour.tasks:Crane"},
            r"wiring: 'harbour.tasks:Crane' is a class \(Crane\), not a function",
        ),
        (
            {"background": ["harbour.tasks:STARTED"]},
            "background: 'harbour.tasks:STARTED' is a list, not a function",
        ),
        (
            {"consumer": {"handlers": "harbour.consumers:handler"}},
            "consumer.handlers: 'harbour.consumers:handler' names nothing",
        ),
        (
            {"consumer": {"handlers": "harbour.consumers:not_a_registry"}},
            "consumer.handlers: 'harbour.consumers:not_a_registry' returned a list, "
            "not a HandlerRegistry",
        ),
    ],
)
def test_a_reference_of_the_wrong_kind_fails_the_build(
    harbour: ServiceApp, changes: dict[str, Any], refusal: str
) -> None:
    service = with_manifest(harbour, **changes)
    with pytest.raises(ManifestError, match=f"^harbour/service.toml: {refusal}"):
        service.build_app(settings(harbour))


def test_a_command_must_be_an_async_function(harbour: ServiceApp) -> None:
    service = with_manifest(harbour, commands={"hello": "harbour.tasks:hello_now"})
    with pytest.raises(ManifestError, match=r"commands.hello: .* is not an `async def` function"):
        service.cli()


def test_a_handler_for_a_topic_the_group_does_not_subscribe_to_fails_the_build(
    harbour: ServiceApp,
) -> None:
    service = with_manifest(harbour, consumer={"handlers": "harbour.consumers:unsubscribed"})
    with pytest.raises(
        ManifestError,
        match="registers handlers for 'orders.order', which group 'harbour' does not "
        r"subscribe to \(consumer.subscribes: identity.user\)",
    ):
        service.build_app(settings(harbour))


def test_settings_without_what_the_manifest_needs_are_refused(harbour: ServiceApp) -> None:
    service = with_manifest(harbour, settings="harbour.settings:BareSettings")
    with pytest.raises(ManifestError) as refused:
        _ = service.settings_type
    message = str(refused.value)
    assert message.startswith("harbour/service.toml: settings: BareSettings needs")
    for need in ("JwksSettings", "InboxRetentionSettings", "DownstreamSettings"):
        assert need in message


def test_settings_of_another_service_are_refused(harbour: ServiceApp) -> None:
    from harbour.settings import BareSettings

    other = BareSettings(database_url="postgresql+asyncpg://harbour:secret@127.0.0.1:9/flotilla")
    with pytest.raises(TypeError, match="harbour is built from HarbourSettings, not BareSettings"):
        harbour.build_app(other)
