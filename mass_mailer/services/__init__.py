"""Domain logic: auth, users, senders, jobs, sending."""
