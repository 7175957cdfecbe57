"""Which directories each package gets from the imported real catalog: the figures
the product sells (package sizes and catalog tiers come from settings, not from here)."""

from __future__ import annotations

import pytest

from directorybolt.catalog.importer import import_catalog
from directorybolt.core.settings import get_settings
from directorybolt.lifecycle.selection import select_directories
from directorybolt.store import db
from directorybolt.store.models import Directory
from tests.catalog import real_catalog_path

pytestmark = pytest.mark.usefixtures("clean")


@pytest.mark.parametrize(
    ("tier", "chosen"), [("starter", 100), ("growth", 250), ("pro", 400), ("enterprise", 450)]
)
def test_package_gets_its_tiers_by_domain_authority(tier: str, chosen: int) -> None:
    report = import_catalog(real_catalog_path()).as_dict()
    assert report["imported"] == 450
    spec = get_settings().tiers[tier]
    available = sum(report["by_tier"].get(str(t), 0) for t in spec.catalog_tiers)
    assert available >= chosen
    with db.session() as s:
        directories, offered = select_directories(s, spec, spec.directories)
        eligible = sorted(
            (d for d in s.query(Directory).all() if d.active and d.tier in spec.catalog_tiers),
            key=lambda d: (-d.domain_authority, d.id),
        )
    assert (len(directories), offered) == (chosen, available)
    assert all(d.tier in spec.catalog_tiers and d.active for d in directories)
    das = [d.domain_authority for d in directories]
    assert das == sorted(das, reverse=True)
    assert [d.id for d in directories] == [d.id for d in eligible[:chosen]]
    if tier in ("pro", "enterprise"):
        assert offered == 450
    if offered < spec.directories:
        # enterprise sells 500 and the catalog has 450: the shortfall is visible, not hidden
        assert tier == "enterprise" and spec.directories - offered == 50


def test_starter_is_the_100_best_tier_1_directories() -> None:
    import_catalog(real_catalog_path())
    spec = get_settings().tiers["starter"]
    assert (spec.directories, spec.catalog_tiers) == (100, [1])
    with db.session() as s:
        chosen, _ = select_directories(s, spec, spec.directories)
        best_left_out = max(
            (d.domain_authority for d in s.query(Directory).filter(Directory.tier == 1)
             if d.id not in {c.id for c in chosen}),
        )
    assert min(d.domain_authority for d in chosen) >= best_left_out
