"""Online decisions (在线决策): what the order system and customer service ask the platform
while a consumer waits.

* :func:`decide_express_refund` — may this refund be paid now (极速退, reference §2.6)?
* :func:`decide_presale` — may this merchant sell on presale, for so many days (预售, §2.1)?
* :func:`decide_ship_promise` — is promising pickup within X hours credible (§2.1)?

Each takes the store, a request model (the HTTP body), the policy, the clock ``now`` and
the caller; loads a few facts by key, decides in a pure function, and appends the decision
to the ``decisions`` log (one row). Thresholds live in the policy's ``decisions`` section
(docs/decisions.md). No web framework and no database driver here: only
:class:`tiyan.store.base.Store`.

Example::

    >>> from datetime import datetime
    >>> from tiyan.decisions import PresaleRequest, decide_presale, decision_to_dict
    >>> decision = decide_presale(store, PresaleRequest(merchant_id="M1", presale_days=15),
    ...                           policy=policy, now=datetime(2024, 6, 1, 4), requested_by=None)
    ...                                                     # doctest: +SKIP
    >>> decision_to_dict(decision)["outcome"]               # doctest: +SKIP
    'eligible'
"""

from tiyan.decisions._express_refund import decide_express_refund
from tiyan.decisions._log import read_decision
from tiyan.decisions._presale import decide_presale
from tiyan.decisions._ship_promise import decide_ship_promise
from tiyan.decisions._types import (
    Decision,
    ExpressRefundRequest,
    PresaleRequest,
    Reason,
    ShipPromiseRequest,
    decision_to_dict,
)

__all__ = [
    "Decision",
    "ExpressRefundRequest",
    "PresaleRequest",
    "Reason",
    "ShipPromiseRequest",
    "decide_express_refund",
    "decide_presale",
    "decide_ship_promise",
    "decision_to_dict",
    "read_decision",
]
