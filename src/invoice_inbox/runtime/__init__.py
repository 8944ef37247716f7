"""Running sources: the application context, the lease, the sync engine and the scheduler."""
