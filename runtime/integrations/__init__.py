"""Telemetry flushed after the response: each module adapts one library (Powertools Metrics, OpenTelemetry,
Sentry) and is imported only by functions that use it; none is a dependency of the runtime (README "Telemetry after
the response")."""
