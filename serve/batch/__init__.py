"""Offline batch scoring: readers, the scoring job, resumable shards, exports, the Ray engine.

Imports nothing from the HTTP side (kashif.serve.http)."""
