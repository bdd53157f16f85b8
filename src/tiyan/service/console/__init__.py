"""The web console: server-rendered pages over the API's roles and keys.

::

    /console/login, /console/logout          a key in, a session cookie out (and back)
    /console/dashboard                       operator   platform KPIs, trend, ledger totals
    /console/merchants                       operator   searchable, sortable, paged
    /console/merchants/{id}                  operator; merchant (own)   scorecard and record
    /console/violations                      operator   the violation queue, by rule
    /console/appeals                         operator decides; merchant files (own)
    /console/appeals/{id}/decision           operator   accept or reject, with a note
    /console/desk, /console/desk/{id}/...    agent, operator; merchant (own)   the service
                                             desk: queue, request, callbacks, resolution

The pages call the same core functions as the JSON API (``tiyan.store.scorecard``,
``tiyan.store.listing``, ``tiyan.store.record``, ``tiyan.jobs.appeals``) and follow its
access rules; see ``docs/console.md``.
"""

from tiyan.service.console.desk import router as _desk
from tiyan.service.console.routes import router

router.include_router(_desk)  # the desk's pages: their own module (console/desk.py)

__all__ = ["router"]
