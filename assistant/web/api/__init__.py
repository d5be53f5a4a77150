"""HTTP API, OpenAI-compatible endpoint, widget keys and their security (see assistant.web.server)."""
