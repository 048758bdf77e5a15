"""ConversationUpdated: its schema, how it is published, how the subscription handles it."""
