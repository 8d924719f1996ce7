"""aktrec: AKT-Rec long-tail CTR prediction as a Kubeflow / Feast / KServe system."""

__version__ = "0.1.0"
