"""mlayer: scikit-learn models on AWS Lambda as versioned layers."""

__version__ = "0.1.0"
