-- qg_job_parents: the parents of job $1, in id order: each one's id, its
-- edge's state (NULL: not settled yet; 'completed'; 'failed'), and, when
-- its record is in qg_job_history, its outcome and output (JSON text,
-- NULL: none).
-- $1 job_id bigint.
SELECT d.parent_id, d.state, h.outcome, h.output::text
FROM qg_job_deps AS d
LEFT JOIN qg_job_history AS h ON h.job_id = d.parent_id
WHERE d.child_id = $1::bigint
ORDER BY d.parent_id
