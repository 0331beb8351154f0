"""The changelogs of the worker's tables are created with the other topics, before a worker runs.

Faust declares a table's changelog only as the worker starts, moments before its consumer joins
the group. On a loaded broker the new topic was not in the metadata yet: the assignor left it
out ("Ignoring missing topic"), the consumer took it to have no partitions, and the org-budget
agent crashed with PartitionsMismatch at every snapshot until the consumer's next metadata
refresh, so the organisation announced nothing (tests/integration/test_budgets.py, about one
run in nine on a loaded machine).
"""

from __future__ import annotations

from pathlib import Path

from stream.app import build_app
from tokenradar.kafka_admin import topic_specs
from tokenradar.settings import Settings


def test_every_table_changelog_is_among_the_topics_created_up_front(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        app_id="x-app", usage_partitions=5, data_dir=tmp_path, _env_file=None
    )
    app = build_app(settings).app
    specs = {spec.name: spec for spec in topic_specs(settings)}
    changelogs = [table.changelog_topic for table in app.tables.values()]
    assert len(changelogs) == 5
    for topic in changelogs:
        name = topic.get_topic_name()
        assert name in specs, f"{name} is left for Faust to declare at the worker's start"
        spec = specs[name]
        # As Faust would declare it: the table's partitions, compacted.
        assert spec.num_partitions == topic.partitions == 5
        assert spec.topic_configs == {"cleanup.policy": "compact"}
        assert topic.compacting
