"""The three virtual actors, their contracts and their typed state."""
