"""The Kubernetes manifests (Kustomize base and overlays), installed with the package so that
the deploy step reads them with importlib.resources instead of from a checkout."""
