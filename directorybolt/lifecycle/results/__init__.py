"""The one owner of ``job_results`` transitions, and of counting them into their job.

Nothing else writes ``job_results``. Every transition is one guarded statement that
names the state it expects (``WHERE status = :from AND worker_id IS NOT DISTINCT FROM
:owner AND attempts = :attempt … RETURNING``); a caller acts only on the rows it got
back, so whoever changed the row since the caller read it wins and the caller does
nothing. ``attempts`` together with ``worker_id`` is the fencing token of a claim.

Transitions::

    pending ──claim──▶ submitting ──fence──▶ submitting+committed ──finish──▶ submitted | failed | needs_review
       ▲                   │  ▲                       │
       │                   │  └──reclaim (dead here)  └──finish (interrupted: never re-sent)
       └──release──────────┤
       └──requeue (sweep)──┘       pending|submitting ──give_up (own budget spent)──▶ failed
    failed ──reset_for_replay──▶ pending (refused after the form was sent, unless forced)

Lock order, used by everyone: a result row first, then its job row; never a job row
before a result row in one transaction, and at most one result row per transaction
except in :func:`skip_unsent`, which locks rows in id order. ``finish`` counts the row
into the job in the same statement (the job's row lock serialises counters), and the
job is finalised exactly once: the statement that sees the last open row sets the
final status. The final-status rule is written once, :func:`final_status_sql`.
"""

from directorybolt.lifecycle.results.claims import Claimed, Early, Nothing, claim, fence, release
from directorybolt.lifecycle.results.jobstate import (
    finalize,
    lock_job,
    resolve_review,
    settle_review,
    skip_if_stopped,
    skip_unsent,
    stop,
)
from directorybolt.lifecycle.results.outcomes import (
    Finished,
    create,
    finish,
    forget_screenshots,
    form_sent,
    requeue,
    reset_for_replay,
)
from directorybolt.lifecycle.results.rules import final_status_sql

__all__ = [
    "Claimed", "Early", "Finished", "Nothing", "claim", "create", "fence", "final_status_sql", "finalize", "finish",
    "forget_screenshots", "form_sent", "lock_job", "release", "requeue", "reset_for_replay", "resolve_review",
    "settle_review", "skip_if_stopped", "skip_unsent", "stop",
]
