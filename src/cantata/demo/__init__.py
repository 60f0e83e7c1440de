"""`cantata demo`: the main job, and the campaign it runs end to end."""
