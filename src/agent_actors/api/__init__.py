"""Thin HTTP routers over the actors."""
