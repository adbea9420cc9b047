from http import HTTPStatus
from typing import Any, cast

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.refund_in import RefundIn
from ...models.refund_out import RefundOut
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: RefundIn,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["idempotency-key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/refunds",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | RefundOut | None:
    if response.status_code == 201:
        response_201 = RefundOut.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = cast(Any, None)
        return response_400

    if response.status_code == 401:
        response_401 = cast(Any, None)
        return response_401

    if response.status_code == 404:
        response_404 = cast(Any, None)
        return response_404

    if response.status_code == 409:
        response_409 = cast(Any, None)
        return response_409

    if response.status_code == 422:
        response_422 = cast(Any, None)
        return response_422

    if response.status_code == 500:
        response_500 = cast(Any, None)
        return response_500

    if response.status_code == 503:
        response_503 = cast(Any, None)
        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Any | RefundOut]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: RefundIn,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Any | RefundOut]:
    """Refund a succeeded charge in full

     Once per `Idempotency-Key` and once per charge: a retry with the same key and body gets the first
    answer again with `Idempotent-Replayed: true`. The charge then shows `refunded: true` and its
    refund.

    Args:
        idempotency_key (None | str | Unset): Unique per intended refund, reused when retrying it.
        body (RefundIn):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | RefundOut]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: RefundIn,
    idempotency_key: None | str | Unset = UNSET,
) -> Any | RefundOut | None:
    """Refund a succeeded charge in full

     Once per `Idempotency-Key` and once per charge: a retry with the same key and body gets the first
    answer again with `Idempotent-Replayed: true`. The charge then shows `refunded: true` and its
    refund.

    Args:
        idempotency_key (None | str | Unset): Unique per intended refund, reused when retrying it.
        body (RefundIn):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | RefundOut
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: RefundIn,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Any | RefundOut]:
    """Refund a succeeded charge in full

     Once per `Idempotency-Key` and once per charge: a retry with the same key and body gets the first
    answer again with `Idempotent-Replayed: true`. The charge then shows `refunded: true` and its
    refund.

    Args:
        idempotency_key (None | str | Unset): Unique per intended refund, reused when retrying it.
        body (RefundIn):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | RefundOut]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: RefundIn,
    idempotency_key: None | str | Unset = UNSET,
) -> Any | RefundOut | None:
    """Refund a succeeded charge in full

     Once per `Idempotency-Key` and once per charge: a retry with the same key and body gets the first
    answer again with `Idempotent-Replayed: true`. The charge then shows `refunded: true` and its
    refund.

    Args:
        idempotency_key (None | str | Unset): Unique per intended refund, reused when retrying it.
        body (RefundIn):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | RefundOut
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
