"""What writes ResponseAgent's replies: an offline responder, or an OpenAI-compatible model."""
