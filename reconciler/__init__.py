"""mlflow-gitops: a declarative GitOps reconciler for the MLflow Model Registry."""

__version__ = "0.1.0"
