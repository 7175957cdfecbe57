"""Which directories a job gets: the active ones of the catalog tiers its package may
use, highest domain authority first, up to the package size."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directorybolt.core.settings import TierSpec
from directorybolt.store.models import Directory


def select_directories(
    session: Session, tier: TierSpec, package_size: int, *, requested: list[str] | None = None
) -> tuple[list[Directory], int]:
    """Returns (chosen, available): ``available`` is how many the catalog could offer,
    so a shortfall against the package size is recorded rather than hidden."""
    eligible = select(Directory).where(Directory.active)
    if requested:
        eligible = eligible.where(Directory.id.in_(requested))
    else:
        eligible = eligible.where(Directory.tier.in_(tier.catalog_tiers))
    available = session.scalar(select(func.count()).select_from(eligible.subquery())) or 0
    chosen = session.scalars(
        eligible.order_by(Directory.domain_authority.desc(), Directory.id).limit(package_size)
    ).all()
    return list(chosen), available
