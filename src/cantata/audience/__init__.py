"""Audiences: the rule language, its SQL compiler and in-memory evaluator, saved audiences."""
