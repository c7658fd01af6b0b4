-- qg_listen: wake-ups for idle pools; qg_notify_jobs() notifies this channel
-- once per inserting statement and queue.
LISTEN qg_jobs
