from http import HTTPStatus
from typing import Any, cast

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.charge_page import ChargePage
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    reference: None | str | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
    limit: int | Unset = 100,
) -> dict[str, Any]:
    params: dict[str, Any] = {}

    json_reference: None | str | Unset
    if isinstance(reference, Unset):
        json_reference = UNSET
    else:
        json_reference = reference
    params["reference"] = json_reference

    json_idempotency_key: None | str | Unset
    if isinstance(idempotency_key, Unset):
        json_idempotency_key = UNSET
    else:
        json_idempotency_key = idempotency_key
    params["idempotency_key"] = json_idempotency_key

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/charges",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | ChargePage | None:
    if response.status_code == 200:
        response_200 = ChargePage.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = cast(Any, None)
        return response_401

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
) -> Response[Any | ChargePage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    reference: None | str | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
    limit: int | Unset = 100,
) -> Response[Any | ChargePage]:
    """The charges made for a reference, oldest first, or the one made under a key

     Give exactly one of `reference` and `idempotency_key`. By key, the page holds the charge made under
    it, or nothing: how a caller whose answer was lost finds out whether it was charged. The look-up by
    key is part of the API clients call, so the fault knobs (outage, errors, latency) apply to it as to
    charges; the listing by reference, like a provider's dashboard, stays readable.

    Args:
        reference (None | str | Unset):
        idempotency_key (None | str | Unset):
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ChargePage]
    """

    kwargs = _get_kwargs(
        reference=reference,
        idempotency_key=idempotency_key,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    reference: None | str | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
    limit: int | Unset = 100,
) -> Any | ChargePage | None:
    """The charges made for a reference, oldest first, or the one made under a key

     Give exactly one of `reference` and `idempotency_key`. By key, the page holds the charge made under
    it, or nothing: how a caller whose answer was lost finds out whether it was charged. The look-up by
    key is part of the API clients call, so the fault knobs (outage, errors, latency) apply to it as to
    charges; the listing by reference, like a provider's dashboard, stays readable.

    Args:
        reference (None | str | Unset):
        idempotency_key (None | str | Unset):
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ChargePage
    """

    return sync_detailed(
        client=client,
        reference=reference,
        idempotency_key=idempotency_key,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    reference: None | str | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
    limit: int | Unset = 100,
) -> Response[Any | ChargePage]:
    """The charges made for a reference, oldest first, or the one made under a key

     Give exactly one of `reference` and `idempotency_key`. By key, the page holds the charge made under
    it, or nothing: how a caller whose answer was lost finds out whether it was charged. The look-up by
    key is part of the API clients call, so the fault knobs (outage, errors, latency) apply to it as to
    charges; the listing by reference, like a provider's dashboard, stays readable.

    Args:
        reference (None | str | Unset):
        idempotency_key (None | str | Unset):
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ChargePage]
    """

    kwargs = _get_kwargs(
        reference=reference,
        idempotency_key=idempotency_key,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    reference: None | str | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
    limit: int | Unset = 100,
) -> Any | ChargePage | None:
    """The charges made for a reference, oldest first, or the one made under a key

     Give exactly one of `reference` and `idempotency_key`. By key, the page holds the charge made under
    it, or nothing: how a caller whose answer was lost finds out whether it was charged. The look-up by
    key is part of the API clients call, so the fault knobs (outage, errors, latency) apply to it as to
    charges; the listing by reference, like a provider's dashboard, stays readable.

    Args:
        reference (None | str | Unset):
        idempotency_key (None | str | Unset):
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ChargePage
    """

    return (
        await asyncio_detailed(
            client=client,
            reference=reference,
            idempotency_key=idempotency_key,
            limit=limit,
        )
    ).parsed
