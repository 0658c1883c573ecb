"""Adapters: where alerts leave the pipeline (console, Discord). Only these know a platform."""
