-- Jobs that must run one after another: a job with an `in_order_of` key is not claimed while an earlier
-- job of its queue with the same key is ready or leased (storage/jobs.py `claim`). The home-timeline
-- fan-out keys a post's jobs by its author, so two workers never fan out one author's posts side by side,
-- and a stream shows them (and resumes after them) in the order they were written. A job waiting for a
-- retry holds nothing back. Keys are rare outside that queue, so the index is partial.
ALTER TABLE jobs ADD COLUMN in_order_of bigint;
CREATE INDEX jobs_in_order ON jobs (queue, in_order_of, id) WHERE in_order_of IS NOT NULL;
