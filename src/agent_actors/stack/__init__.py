"""The local stack: Redis, placement, scheduler, daprd and the app, supervised as one."""
