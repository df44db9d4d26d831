"""The sim channel and its queue: what a message becomes, and that a key is queued once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from longtail.channels import PermanentError
from longtail.channels.sim import QueuedItem, SimChannel, SimQueue, intent_of
from longtail.runner.closed_loop import changed_rows
from longtail.sim import CsmTask, Email, InApp
from longtail.store.outbox import OutboxRow

AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def row(key: str, channel: str = "email", contact: str | None = "con_0000000042",
        program: str | None = "we_noticed") -> OutboxRow:
    return OutboxRow(key=key, channel=channel, payload={"to": "x@example.test"}, due_at=AT, attempts=1,
                     message_id=f"<{key}@longtail>", contact_id=contact, account_id="acc_00000004", program=program)


@pytest.mark.parametrize(("program", "intent"), [
    ("onboarding_welcome", "onboarding"), ("onboarding_webinar_invite", "onboarding"), ("we_noticed", "rescue"),
    ("renewal_value_summary", "renewal"), ("monthly_newsletter", "newsletter"), ("feature_tips", "adoption"),
    (None, "adoption"),
])
def test_a_message_carries_the_intent_its_journey_names(program: str | None, intent: str) -> None:
    assert intent_of(program) == intent


def test_sending_queues_one_intervention_per_key(tmp_path: Path) -> None:
    queue = SimQueue(tmp_path / "q")
    channel = SimChannel(queue)
    channel.send(row("ob_1"))
    channel.send(row("ob_1"))  # a re-send after a crash: same key, same item
    channel.send(row("ob_2", channel="in_app", program="onboarding_webinar_invite"))
    items = queue.pending()
    assert [i.key for i in items] == ["ob_1", "ob_2"]
    assert [i.intervention() for i in items] == [Email("con_0000000042", "rescue"),
                                                 InApp("con_0000000042", "onboarding")]
    queue.remove(items[:1])
    assert [i.key for i in queue.pending()] == ["ob_2"]


def test_a_csm_task_item_is_a_task_on_its_account() -> None:
    item = QueuedItem(key="cta:c1", kind="csm_task", detail="rescue_call", account_id="acc_00000004")
    assert item.intervention() == CsmTask("acc_00000004", "rescue_call")
    assert QueuedItem.from_json(item.as_json()) == item


@pytest.mark.parametrize("bad", [row("ob_3", channel="webhook"), row("ob_4", contact=None)])
def test_the_channel_refuses_what_the_world_cannot_receive(tmp_path: Path, bad: OutboxRow) -> None:
    with pytest.raises(PermanentError):
        SimChannel(SimQueue(tmp_path)).send(bad)


def test_changed_rows_keeps_new_and_changed_rows_only() -> None:
    before = pa.table({"id": ["a", "b", "c"], "n": [1, None, 3]})
    after = pa.table({"id": ["a", "b", "c", "d"], "n": [1, None, 4, None]})
    assert changed_rows(before, after).to_pydict() == {"id": ["c", "d"], "n": [4, None]}
    assert changed_rows(before.slice(0, 0), after).num_rows == 4
