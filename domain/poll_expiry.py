"""The end of a poll: `poll` notifications to everyone who voted and to its author, from the delayed job
recorded with the poll (so a restart or a second worker changes nothing: the job runs once at least, and
a notification is written once per recipient and poll)."""

from __future__ import annotations

from domain.notifications import push
from domain.polls import POLL_EXPIRE, POLLS_QUEUE
from storage import jobs as job_store
from storage import notifications as notification_store
from storage import polls as store
from storage.notifications import NewNotification
from storage.resources import Resources


async def notify_expired(res: Resources, poll_id: int) -> int:
    """Notify the poll's voters and author that it ended; returns how many notifications were written. A job
    that runs early (clocks differ) puts itself back for the time left."""
    row = await store.get_poll(res.db, poll_id)
    if row is None:
        return 0  # the post was deleted
    if not row.expired:
        left = max(1.0, (row.expires_at - await res.db.fetchval("SELECT now()")).total_seconds())
        await job_store.enqueue(res.db, POLLS_QUEUE, POLL_EXPIRE, {"poll_id": poll_id}, delay=left)
        return 0
    recipients = dict.fromkeys([*await store.voter_ids(res.db, poll_id), row.account_id])
    wanted = [
        NewNotification(res.ids.next_id(), account, row.account_id, "poll", row.post_id) for account in recipients
    ]
    created = [r["id"] for r in await notification_store.insert_notifications(res.db, wanted)]
    if created:
        await push(res, created)
    return len(created)
