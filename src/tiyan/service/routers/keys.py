"""``/v1/keys``: the service's API keys, listed and revoked through the running server.

A DuckDB store is opened by one process: while ``tiyan serve`` holds it, ``tiyan keys
revoke`` asks this endpoint (with the server's local control token, see
:mod:`tiyan.service.control`), and an operator can call it directly. A revocation takes
effect at once on this server (its cached checks of the key and its console sessions are
dropped); other workers of a PostgreSQL deployment follow within ``auth_cache_seconds``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tiyan.service.deps import Caller, State, require
from tiyan.service.errors import ErrorBody
from tiyan.service.keys import list_keys
from tiyan.service.schemas import KeyOut

router = APIRouter(
    prefix="/v1/keys",
    tags=["keys"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)
KeyId = Annotated[
    str, Path(min_length=1, max_length=100, description="Key id.", examples=["tk_0123456789ab"])
]


@router.get("", response_model=list[KeyOut], summary="Keys (never their secrets)")
def get_keys(caller: Caller, state: State) -> list[KeyOut]:
    """Every key: id, role, merchant, label, when created and when revoked."""
    require(caller, "operator", "admin")
    with state.reading() as store:
        return [KeyOut(**k.__dict__) for k in list_keys(store)]


@router.post(
    "/{key_id}/revoke",
    response_model=KeyOut,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    summary="Revoke a key, effective at once",
)
def revoke(key_id: KeyId, caller: Caller, state: State) -> KeyOut:
    """Revoke ``key_id``: the next request with it is refused (401), and its console
    sessions end. 404 for an unknown key, 409 for one already revoked."""
    require(caller, "operator", "admin")
    return KeyOut(**state.revoke(key_id).__dict__)
