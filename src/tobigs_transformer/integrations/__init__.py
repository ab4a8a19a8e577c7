"""Glue between the model and other libraries that the package root runs at import (peft's target modules)."""
