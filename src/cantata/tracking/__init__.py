"""Tracking and feedback: signed links in messages, the ASGI app that answers them, provider
callbacks and DSN bounces, all recorded in communication history."""

from cantata.tracking.app import tracking_app
from cantata.tracking.bounces import Bounce, parse_dsn
from cantata.tracking.feedback import record_event
from cantata.tracking.links import TrackingLinks
from cantata.tracking.settings import TrackingSettings, tracking_settings
from cantata.tracking.tokens import InvalidToken, Kind, Token, TokenSigner

__all__ = [
    "Bounce",
    "InvalidToken",
    "Kind",
    "Token",
    "TokenSigner",
    "TrackingLinks",
    "TrackingSettings",
    "parse_dsn",
    "record_event",
    "tracking_app",
    "tracking_settings",
]
