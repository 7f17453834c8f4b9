"""Pricing: genai-prices export, model resolution and exact cost maths. Imports no Dagster."""
