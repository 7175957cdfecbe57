"""How a job's rows count into its status, written once: every statement that recounts
or finalises a job embeds these."""

from __future__ import annotations


def final_status_sql(submitted: str, failed: str, needs_review: str, stopped: str = "false") -> str:
    """The final-status rule as SQL over three count expressions: ``completed`` when
    nothing failed or waits for a person, ``failed`` when nothing was submitted,
    ``partial`` otherwise. A job told to stop (``stopped``, a boolean expression: a
    refund, :func:`skip_unsent`) skipped work the customer no longer gets, so it is
    ``cancelled`` when nothing was submitted and ``partial`` otherwise."""
    return (f"CASE WHEN {stopped} THEN CASE WHEN {submitted} = 0 THEN 'cancelled' ELSE 'partial' END "
            f"WHEN {failed} + {needs_review} = 0 THEN 'completed' "
            f"WHEN {submitted} = 0 THEN 'failed' ELSE 'partial' END")


#: A job's rows counted by status: the recounts read this, and only this, before
#: applying :func:`final_status_sql`.
COUNTS_SQL = """SELECT count(*) FILTER (WHERE status = 'submitted') AS submitted,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'needs_review') AS needs_review,
               count(*) FILTER (WHERE status = 'skipped') AS skipped,
               count(*) FILTER (WHERE status IN ('pending', 'submitting')) AS open
        FROM job_results WHERE job_id = :job_id"""
