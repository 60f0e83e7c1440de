"""Delivery: the ledger of messages, the dispatcher that sends them through providers, the
policies that exclude or defer them, and personalization."""
