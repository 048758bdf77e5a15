"""What is written where: typed state and its keys, history pages, committed reads without a
lock, the call log, the session index, dead letters and the ETag'd store, payload sizes."""
