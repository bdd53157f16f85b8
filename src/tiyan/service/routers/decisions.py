"""``/v1/decisions``: express refund, presale eligibility, ship promise — each answered with
the decision, its reasons and the policy version, and kept in the decision log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from tiyan.decisions import (
    decide_express_refund,
    decide_presale,
    decide_ship_promise,
    decision_to_dict,
    read_decision,
)
from tiyan.service.deps import Caller, State, own_merchant, require
from tiyan.service.errors import ErrorBody
from tiyan.service.keys import Principal
from tiyan.service.schemas import DecisionOut, ExpressRefundIn, PresaleIn, ShipPromiseIn
from tiyan.service.state import AppState

router = APIRouter(
    prefix="/v1/decisions",
    tags=["decisions"],
    responses={
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        404: {"model": ErrorBody},
        422: {"model": ErrorBody},
    },
)


def _decide(decide: Any, body: Any, caller: Principal, state: AppState) -> DecisionOut:
    """Run one ``decide_*`` of the core on a reader of the store, count it, answer it."""
    now = state.clock()
    with state.reading() as store:
        decision = decide(
            store,
            body,
            policy=state.policy(now.date()),
            now=now,
            requested_by=caller.key_id,
            log=state.log_writer,
        )
    out = DecisionOut(**decision_to_dict(decision))
    state.metrics.decisions.labels(out.kind, out.outcome).inc()
    return out


def _for_merchant(caller: Principal, merchant_id: str) -> None:
    """Services and operators ask for any merchant; a merchant key for itself only."""
    if caller.role == "merchant":
        own_merchant(caller, merchant_id)
    else:
        require(caller, "service", "operator")


@router.post("/express-refund", response_model=DecisionOut, summary="极速退: refund now?")
def express_refund(body: ExpressRefundIn, caller: Caller, state: State) -> DecisionOut:
    """``refund_now`` (unshipped, asked soon after payment, under the limit), or
    ``platform_advance`` (shipped, 7-day no-reason return with a verified return tracking
    number, consumer tier and amount within limits: the platform pays now and settles with
    the merchant later), or ``merchant_review`` (auto-approved if unanswered in 48 h)."""
    require(caller, "service", "operator")
    return _decide(decide_express_refund, body, caller, state)


@router.post("/presale", response_model=DecisionOut, summary="May this merchant sell on presale?")
def presale(body: PresaleIn, caller: Caller, state: State) -> DecisionOut:
    """``eligible`` when the merchant holds the presale privilege, no penalty forbids it and
    the presale period is within the cap; otherwise ``not_eligible`` with every reason. A
    merchant key may ask for itself."""
    _for_merchant(caller, body.merchant_id)
    return _decide(decide_presale, body, caller, state)


@router.post("/ship-promise", response_model=DecisionOut, summary="Is this ship promise credible?")
def ship_promise(body: ShipPromiseIn, caller: Caller, state: State) -> DecisionOut:
    """The probability that the merchant hands parcels to the carrier within the promised
    hours, from its recent payment → pickup times, and the promise it keeps at 95%. A
    merchant key may ask for itself."""
    _for_merchant(caller, body.merchant_id)
    return _decide(decide_ship_promise, body, caller, state)


@router.get("/{decision_id}", response_model=DecisionOut, summary="One logged decision")
def get_decision(
    decision_id: Annotated[
        str, Path(min_length=1, max_length=100, examples=["634b712ce4ff499fa3253e576622a70d"])
    ],
    caller: Caller,
    state: State,
) -> DecisionOut:
    """A decision from the log, as it was answered (operators, for audit)."""
    require(caller, "operator")
    state.decision_log.flush()  # a decision just made is in the log
    with state.reading() as store:
        return DecisionOut(**read_decision(store, decision_id))
