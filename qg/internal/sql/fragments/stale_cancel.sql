-- stale_cancel: whether the cancel request c is left over: expired (its
-- requester was killed before it could withdraw it), or written by an
-- earlier qg-cpp (no expiry; honoured by no pool of this one) more than an
-- hour ago. Requests whose run ended but that have not expired yet are kept
-- until then (they apply to nothing: see live_cancel), so that the
-- requester waiting for them still finds its row. Deleted by
-- qg_request_cancel (operators may delete requests; workers may not).
coalesce(c.expires_at, c.requested_at + interval '1 hour') <= now()
