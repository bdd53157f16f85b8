"""``/v1/merchants``: the list (operators), and each merchant's data (its own key, or an
operator's)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from tiyan.domain.errors import NotFoundError
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.service.deps import Caller, State, own_merchant, require
from tiyan.service.errors import ErrorBody
from tiyan.service.schemas import (
    ActionOut,
    AppealOut,
    MerchantPage,
    MerchantSummary,
    MetricOut,
    MetricsOut,
    PrivilegesOut,
    Scorecard,
    StandingOut,
    SupportedDate,
    ViolationOut,
)
from tiyan.store.listing import (
    list_actions,
    list_merchants,
    list_violations,
    merchant_summary,
    require_merchant,
)
from tiyan.store.record import merchant_record
from tiyan.store.scorecard import merchant_metrics, scorecard

router = APIRouter(
    prefix="/v1/merchants",
    tags=["merchants"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)

MerchantId = Annotated[
    str, Path(min_length=1, max_length=100, description="Merchant id.", examples=["M000042"])
]
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many.", examples=[50])]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Skip this many.", examples=[0])]
AsOf = Annotated[
    SupportedDate | None,
    Query(description="Score date (default: the latest).", examples=["2024-07-30"]),
]
Window = Annotated[int | None, Query(ge=1, le=3650, description="Window in days.", examples=[90])]


@router.get("", response_model=MerchantPage, summary="Merchants, searchable and sortable")
def get_merchants(
    caller: Caller,
    state: State,
    q: Annotated[
        str | None, Query(max_length=100, description="Id or name contains.", examples=["42"])
    ] = None,
    category: Annotated[str | None, Query(max_length=50, examples=["apparel"])] = None,
    level: Annotated[str | None, Query(max_length=50, examples=["good"])] = None,
    sort: Annotated[
        Literal[
            "score",
            "-score",
            "violations",
            "-violations",
            "category",
            "-category",
            "merchant_id",
        ],
        Query(examples=["-score"]),
    ] = "merchant_id",
    limit: Limit = 50,
    offset: Offset = 0,
) -> MerchantPage:
    """Every merchant with its latest score and violation count (operators only)."""
    require(caller, "operator")
    with state.reading() as store:
        total, rows = list_merchants(store, q=q, category=category, level=level, sort=sort,
                                     limit=limit, offset=offset)  # fmt: skip
    return MerchantPage(total=total, items=[MerchantSummary(**r) for r in rows])


@router.get("/{merchant_id}", response_model=MerchantSummary, summary="One merchant")
def get_merchant(merchant_id: MerchantId, caller: Caller, state: State) -> MerchantSummary:
    own_merchant(caller, merchant_id)
    with state.reading() as store:
        return MerchantSummary(**merchant_summary(store, merchant_id))


@router.get("/{merchant_id}/scorecard", response_model=Scorecard, summary="Score, explained")
def get_scorecard(
    merchant_id: MerchantId, caller: Caller, state: State, as_of: AsOf = None,
    window: Window = None,
) -> Scorecard:  # fmt: skip
    """Score, level, dimensions, every metric against peers, what to fix first, and the
    governance record (violations, points, penalties, privileges)."""
    own_merchant(caller, merchant_id)
    with state.reading() as store:
        require_merchant(store, merchant_id)
        card = scorecard(store, merchant_id, as_of=as_of, window=window)
        if card is None:
            raise NotFoundError("score", merchant_id, f"merchant {merchant_id} has no score yet")
        card["record"] = merchant_record(store, merchant_id, card["as_of"])
    return Scorecard(**card)


@router.get("/{merchant_id}/metrics", response_model=MetricsOut, summary="Metrics vs peers")
def get_metrics(
    merchant_id: MerchantId, caller: Caller, state: State, as_of: AsOf = None,
    window: Window = None,
) -> MetricsOut:  # fmt: skip
    """The merchant's metric values of the scorecard's window, beside its category's and the
    platform's."""
    own_merchant(caller, merchant_id)
    with state.reading() as store:
        require_merchant(store, merchant_id)
        card = scorecard(store, merchant_id, as_of=as_of, window=window)
        if card is None:
            raise NotFoundError("metrics", merchant_id, f"merchant {merchant_id} has no score yet")
        rows = merchant_metrics(store, merchant_id, as_of=card["as_of"], window=card["window_days"])
    metrics = []
    for r in rows:
        d = DEFINITIONS.get(r["metric_id"])
        metrics.append(
            MetricOut(
                **r,
                en=d.en if d else r["metric_id"],
                zh=d.zh if d else "",
                dimension=d.dimension if d else None,
            )
        )
    return MetricsOut(
        merchant_id=merchant_id, as_of=card["as_of"], window_days=card["window_days"],
        metrics=metrics,
    )  # fmt: skip


@router.get("/{merchant_id}/violations", response_model=list[ViolationOut])
def get_violations(
    merchant_id: MerchantId,
    caller: Caller,
    state: State,
    rule: Annotated[
        str | None,
        Query(max_length=50, description="Only this rule id.", examples=["ship_timeout"]),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[ViolationOut]:
    """Violations, newest first, each with its evidence."""
    own_merchant(caller, merchant_id)
    with state.reading() as store:
        require_merchant(store, merchant_id)
        rows = list_violations(store, merchant_id=merchant_id, rule_id=rule, limit=limit,
                               offset=offset)  # fmt: skip
    return [ViolationOut(**r) for r in rows]


@router.get("/{merchant_id}/actions", response_model=list[ActionOut])
def get_actions(
    merchant_id: MerchantId,
    caller: Caller,
    state: State,
    kind: Annotated[
        str | None,
        Query(max_length=50, description="compensation, points, penalty, ...", examples=["points"]),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[ActionOut]:
    """The ledger: compensation, points, penalties, privileges, reversals; newest first."""
    own_merchant(caller, merchant_id)
    with state.reading() as store:
        require_merchant(store, merchant_id)
        rows = list_actions(store, merchant_id=merchant_id, kind=kind, limit=limit,
                            offset=offset)  # fmt: skip
    return [ActionOut(**r) for r in rows]


@router.get("/{merchant_id}/privileges", response_model=PrivilegesOut)
def get_privileges(merchant_id: MerchantId, caller: Caller, state: State) -> PrivilegesOut:
    """Privileges held (presale, express refund, ...) and score measures in force, with the
    grants and revocations that led there."""
    own_merchant(caller, merchant_id)
    with state.reading() as store:
        require_merchant(store, merchant_id)
        card = scorecard(store, merchant_id)
        record = merchant_record(store, merchant_id, card["as_of"] if card else None)
        history = [
            a
            for kind in ("privilege_grant", "privilege_revoke", "measure_apply", "measure_lift")
            for a in list_actions(store, merchant_id=merchant_id, kind=kind, limit=1000)
        ]
    history.sort(key=lambda a: (a["day"], a["action_id"]), reverse=True)
    held = record["privileges_and_measures"] if record else []
    return PrivilegesOut(
        merchant_id=merchant_id, held=held, history=[ActionOut(**a) for a in history]
    )


@router.get("/{merchant_id}/standing", response_model=StandingOut)
def get_standing(
    merchant_id: MerchantId,
    caller: Caller,
    state: State,
    as_of: Annotated[
        SupportedDate | None,
        Query(description="Date (default: the latest enforcement run's).",
              examples=["2024-07-30"]),
    ] = None,
) -> StandingOut:  # fmt: skip
    """The merchant's standing: one status (active, rectifying, suspended, cleared), its
    points and ladder node, score and level, privileges held and measures in force."""
    from tiyan.store.governance import latest_enforcement_day, load_standings

    own_merchant(caller, merchant_id)
    with state.reading() as store:
        require_merchant(store, merchant_id)
        day = as_of or latest_enforcement_day(store) or state.clock().date()
        policy = state.policy(day)
        found = load_standings(
            store,
            as_of=day,
            config=policy.standing,
            window=policy.scoring.window_days,
            merchant_id=merchant_id,
        )
    return StandingOut(**found[merchant_id].as_dict())


@router.get("/{merchant_id}/appeals", response_model=list[AppealOut])
def get_appeals(merchant_id: MerchantId, caller: Caller, state: State) -> list[AppealOut]:
    """The merchant's appeals, oldest first."""
    from tiyan.jobs.appeals import list_appeals

    own_merchant(caller, merchant_id)
    with state.reading() as store:
        require_merchant(store, merchant_id)
        appeals = list_appeals(store, merchant_id=merchant_id)
    return [AppealOut(**a.__dict__) for a in appeals]
