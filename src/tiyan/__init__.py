"""tiyan (体验): a consumer-experience governance engine for marketplaces."""

__version__ = "0.1.0"
