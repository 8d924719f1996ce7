"""The KServe predictor: request parsing, Feast online features, scoring, the HTTP server."""
