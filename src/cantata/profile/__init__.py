"""Profile integration: consent and suppression, the truth of who may be contacted."""
