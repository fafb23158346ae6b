"""ConversationRelay: the WebSocket protocol, the call's shared state, and the turn loop."""
