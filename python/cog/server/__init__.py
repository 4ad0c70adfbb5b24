"""Legacy import location (`cog.server.exceptions`), kept for older models."""
