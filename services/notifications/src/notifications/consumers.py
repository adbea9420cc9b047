"""Which event runs which handler: the registry the event consumer dispatches through.

The group (service.toml's `[consumer]`) reads `identity.user` and `orders.order`; an order's
placement is not a customer email, so it is not registered and the consumer skips (and counts)
it.
"""

from __future__ import annotations

from contracts.identity import UserRegisteredV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderRejectedV1
from notifications.handlers import Emails
from notifications.mailer import SmtpConfig, SmtpMailer, smtp_breaker
from notifications.settings import NotificationsSettings
from servicekit import ServiceContext
from servicekit.events import HandlerRegistry

__all__ = ["build_registry", "handlers"]


def handlers(context: ServiceContext[NotificationsSettings]) -> HandlerRegistry:
    """The registry service.toml's `[consumer]` names, sending through the configured SMTP
    server. SMTP is deliberately not a readiness check: while it is down the breaker fails
    sends fast and events wait in the retry topics; taking the API out of rotation helps
    nobody. The mailer's connection is closed (QUIT) at shutdown, once the consumer stopped."""
    settings = context.settings
    sender = settings.sender
    mailer = SmtpMailer(
        SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=sender,
            timeout_s=settings.smtp_timeout_s,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            max_attempts=settings.smtp_max_attempts,
            backoff_initial_s=settings.smtp_backoff_initial_s,
            backoff_max_s=settings.smtp_backoff_max_s,
            idle_close_s=settings.smtp_idle_close_s,
        ),
        smtp_breaker(settings.smtp_breaker_policy()),
    )
    context.at_shutdown(mailer.close)  # its connection stays open between emails
    return build_registry(Emails(context.database, mailer, sender.domain))


def build_registry(emails: Emails) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.on(UserRegisteredV1)(emails.welcome_new_user)
    registry.on(OrderConfirmedV1)(emails.email_order_outcome)
    registry.on(OrderCancelledV1)(emails.email_order_outcome)
    registry.on(OrderRejectedV1)(emails.email_order_outcome)
    return registry
