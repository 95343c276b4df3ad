"""The views lock (one projector per views database) and who may ask for a live rebuild."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bus import subjects
from bus.security import identities
from projections.views_lock import ViewsLock, ViewsLocked, lock_path, read_holder


def test_lock_when_held_then_a_second_refused_naming_the_holder_until_released(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'views.sqlite'}"
    first = ViewsLock(url, "mtq projector run").acquire()
    with pytest.raises(ViewsLocked) as refused:
        ViewsLock(url).acquire()
    assert f"pid {os.getpid()}, mtq projector run" in str(refused.value)
    holder = read_holder(url)
    assert holder is not None
    assert holder.pid == os.getpid()
    assert holder.alive()
    first.release()
    ViewsLock(url).acquire().release()


def test_lock_path_when_memory_or_postgres_then_none_else_next_to_the_file() -> None:
    assert lock_path("sqlite:///:memory:") is None
    assert lock_path("postgresql://u@h/db") is None
    assert lock_path("sqlite:////srv/data/projections.sqlite") == Path(
        "/srv/data/projections.sqlite.lock"
    )


def test_rebuild_subject_when_identities_listed_then_only_admin_may_publish_it() -> None:
    for identity in identities.all_identities(["acc-1"]):
        if identity.unrestricted:
            assert identity.name == identities.ADMIN
            continue
        published = set(identity.pub)
        assert subjects.PROJECTOR_REBUILD not in published, identity.name
        assert not any(p in published for p in ("mtq.>", "mtq.projector.>", ">")), identity.name
    assert subjects.PROJECTOR_REBUILD in identities.projector().sub
