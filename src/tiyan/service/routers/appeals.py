"""``/v1/appeals``: merchants appeal their violations; operators decide."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status

from tiyan.domain.errors import NotFoundError
from tiyan.jobs.appeals import create_appeal, decide_appeal, get_appeal, list_appeals
from tiyan.service.deps import Caller, State, require
from tiyan.service.errors import ErrorBody
from tiyan.service.schemas import ActionOut, AppealCreate, AppealDecided, AppealDecision, AppealOut

router = APIRouter(
    prefix="/v1/appeals",
    tags=["appeals"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
AppealId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=400,
        description="Appeal id.",
        examples=["appeal:ship_timeout:M000042:O000000042:1"],
    ),
]


@router.post(
    "",
    response_model=AppealOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorBody}},
    summary="Appeal a violation (merchants)",
)
def post_appeal(body: AppealCreate, caller: Caller, state: State) -> AppealOut:
    """The merchant of the key appeals one of its own violations, with a statement and
    evidence. One open appeal per violation."""
    require(caller, "merchant")
    assert caller.merchant_id is not None
    with state.store() as store:
        appeal = create_appeal(
            store,
            violation_id=body.violation_id,
            merchant_id=caller.merchant_id,
            statement=body.statement,
            evidence=body.evidence,
            now=state.clock(),
        )
    return AppealOut(**appeal.__dict__)


@router.get("", response_model=list[AppealOut], summary="Appeals")
def get_appeals(
    caller: Caller,
    state: State,
    status: Annotated[
        Literal["open", "accepted", "rejected"] | None, Query(examples=["open"])
    ] = None,
) -> list[AppealOut]:
    """All appeals (operators) or the key's merchant's own, oldest first."""
    require(caller, "operator", "merchant")
    mine = caller.merchant_id if caller.role == "merchant" else None
    with state.reading() as store:
        appeals = list_appeals(store, merchant_id=mine, status=status)
    return [AppealOut(**a.__dict__) for a in appeals]


@router.get("/{appeal_id}", response_model=AppealOut, summary="One appeal")
def get_one(appeal_id: AppealId, caller: Caller, state: State) -> AppealOut:
    require(caller, "operator", "merchant")
    with state.reading() as store:
        appeal = get_appeal(store, appeal_id)
    if caller.role == "merchant" and appeal.merchant_id != caller.merchant_id:
        raise NotFoundError("appeal", appeal_id)
    return AppealOut(**appeal.__dict__)


@router.post(
    "/{appeal_id}/decision",
    response_model=AppealDecided,
    responses={409: {"model": ErrorBody}},
    summary="Accept or reject an appeal (operators)",
)
def post_decision(
    appeal_id: AppealId, body: AppealDecision, caller: Caller, state: State
) -> AppealDecided:
    """Accepting writes reversal entries to the ledger (points and penalties taken back; the
    consumer keeps the compensation, the platform bears it)."""
    require(caller, "operator")
    now = state.clock()
    with state.store() as store:
        reversals = decide_appeal(
            store,
            appeal_id,
            accept=body.accept,
            reason=body.reason,
            by=caller.key_id,
            now=now,
            ladder=state.policy(now.date()).consequences.ladder,
        )
        appeal = get_appeal(store, appeal_id)
    return AppealDecided(
        appeal=AppealOut(**appeal.__dict__),
        reversals=[ActionOut(**{**r, "detail": json.loads(r["detail"])}) for r in reversals],
    )
