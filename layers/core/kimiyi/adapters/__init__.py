"""Adapters: the only code that talks to AWS, Twilio and LLM services."""
