"""The final-status rule, written once: every statement that finalises a job embeds it."""

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
