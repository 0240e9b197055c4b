"""Model packaging in MLflow's ``MLmodel`` format (scikit-learn for now; more flavors come
with the registry)."""

from plinth.models.sklearn import save_sklearn_model

__all__ = ["save_sklearn_model"]
