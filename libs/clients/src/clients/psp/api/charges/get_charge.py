from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.charge_out import ChargeOut
from ...models.http_validation_error import HTTPValidationError
from ...types import Response


def _get_kwargs(
    charge_id: str,
) -> dict[str, Any]:
    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/charges/{charge_id}".format(
            charge_id=quote(str(charge_id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | ChargeOut | HTTPValidationError | None:
    if response.status_code == 200:
        response_200 = ChargeOut.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = cast(Any, None)
        return response_401

    if response.status_code == 404:
        response_404 = cast(Any, None)
        return response_404

    if response.status_code == 422:
        response_422 = HTTPValidationError.from_dict(response.json())

        return response_422

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Any | ChargeOut | HTTPValidationError]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    charge_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[Any | ChargeOut | HTTPValidationError]:
    """One charge

    Args:
        charge_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ChargeOut | HTTPValidationError]
    """

    kwargs = _get_kwargs(
        charge_id=charge_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    charge_id: str,
    *,
    client: AuthenticatedClient,
) -> Any | ChargeOut | HTTPValidationError | None:
    """One charge

    Args:
        charge_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ChargeOut | HTTPValidationError
    """

    return sync_detailed(
        charge_id=charge_id,
        client=client,
    ).parsed


async def asyncio_detailed(
    charge_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[Any | ChargeOut | HTTPValidationError]:
    """One charge

    Args:
        charge_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ChargeOut | HTTPValidationError]
    """

    kwargs = _get_kwargs(
        charge_id=charge_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    charge_id: str,
    *,
    client: AuthenticatedClient,
) -> Any | ChargeOut | HTTPValidationError | None:
    """One charge

    Args:
        charge_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ChargeOut | HTTPValidationError
    """

    return (
        await asyncio_detailed(
            charge_id=charge_id,
            client=client,
        )
    ).parsed
