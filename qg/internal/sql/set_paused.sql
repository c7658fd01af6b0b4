-- qg_set_paused: pauses ($2 true) or resumes ($2 false) queue $1 for
-- qg-cpp pools and tells them at once (NOTIFY qg_control "pause\t<queue>"
-- or "resume\t<queue>"; pools also read the state when they lock).
-- $1 queue text, $2 paused boolean.
WITH state AS (
  INSERT INTO qg_queues (queue, paused, updated_at)
  VALUES ($1::text, $2::boolean, now())
  ON CONFLICT (queue) DO UPDATE SET paused = $2::boolean, updated_at = now()
  RETURNING queue, paused
)
SELECT pg_notify('qg_control',
                 CASE WHEN paused THEN 'pause' ELSE 'resume' END || E'\t' ||
                 left(queue, 7000))
FROM state
