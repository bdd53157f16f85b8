"""Judge a candidate policy by its outcome: replay the enforcement history under it.

``tiyan policy evaluate CANDIDATE.yaml`` answers "what would this policy have done to these
merchants?" on a simulated market (``sim_truth``). The store is copied (an embedded DuckDB
file), everything a policy decided is deleted from the copy (scores, violations, the ledger;
the measured partials stay), and every date scoring or enforcement ran for in the original,
up to ``as_of``, runs again under the candidate, oldest first: what ran that day, scoring
before enforcement, as the daily cycle does (a store whose history ran enforcement before
scoring on a day replays to another outcome). The outcome of
the copy on ``as_of`` is then set beside the outcome of the original
(:func:`tiyan.policy.outcome.evaluate_outcome`). The original is only read.

The candidate applies to every replayed date, whatever its ``effective_from``: the question is
what it would have done had it been in force.

Example::

    now, cand = evaluate_candidate("demo/tiyan.duckdb", load_policy(as_of=day),
                                   load_policy("strict.yaml"), as_of=day,
                                   workdir=Path("/tmp/replay"))
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

from tiyan.domain.errors import UsageError
from tiyan.jobs.enforce import run_enforcement
from tiyan.jobs.scoring import run_scoring
from tiyan.policy.outcome import Outcome, evaluate_outcome
from tiyan.policy.schema import Policy
from tiyan.store import open_store
from tiyan.store.base import Store
from tiyan.store.governance import (
    forget_decisions,
    load_outcome_inputs,
    load_standings,
    run_dates,
)

Progress = Callable[[str], None]


def store_outcome(store: Store, policy: Policy, *, as_of: date) -> Outcome:
    """The outcome on ``as_of`` of what the store's ledger holds (``sim_truth`` needed)."""
    archetypes, flagged = load_outcome_inputs(store)
    if not archetypes:
        raise UsageError("the store has no sim_truth: the outcome needs a simulated market")
    standings = load_standings(
        store, as_of=as_of, config=policy.standing, window=policy.scoring.window_days
    )
    return evaluate_outcome(standings, archetypes, flagged, policy.privileges)


def evaluate_candidate(
    url: str,
    current: Policy,
    candidate: Policy,
    *,
    as_of: date,
    workdir: Path,
    progress: Progress | None = None,
) -> tuple[Outcome, Outcome]:
    """The outcome on ``as_of`` under the policy in force (the store as it is) and under
    ``candidate`` (replayed on a copy in ``workdir``; see the module docstring)."""
    say = progress or (lambda _msg: None)
    if url.startswith(("postgres://", "postgresql://")):
        raise UsageError(
            "a candidate is replayed on a copy of the store: give an embedded DuckDB store "
            "(e.g. the demo's), not a PostgreSQL URL"
        )
    source = Path(url)
    if not source.is_file():
        raise UsageError(f"no store at {source}")
    with open_store(url, read_only=True) as store:
        now = store_outcome(store, current, as_of=as_of)
        scored, enforced = run_dates(store, until=as_of)
    if not enforced:
        raise UsageError(f"enforcement never ran on or before {as_of}: nothing to replay")
    dates = sorted(set(scored) | set(enforced))
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / "candidate.duckdb"
    for suffix in ("", ".wal"):
        target = Path(f"{copy}{suffix}")
        target.unlink(missing_ok=True)
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", target)
    policy = candidate
    if policy.effective_from > dates[0]:
        policy = policy.model_copy(update={"effective_from": dates[0]})
    with open_store(str(copy)) as store:
        forget_decisions(store)
        for day in dates:  # what ran that day, scoring first, as the daily cycle does
            say(f"replaying {day} under {policy.version}")
            if day in scored:
                run_scoring(store, as_of=day, policy=policy, progress=say)
            if day in enforced:
                run_enforcement(store, as_of=day, policy=policy, progress=say)
        cand = store_outcome(store, policy, as_of=as_of)
    return now, cand
