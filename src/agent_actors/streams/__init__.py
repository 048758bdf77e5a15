"""Token transport: the in-process hub where a stream's route and its responder meet, and the
relay that carries tokens between replicas over Redis."""
