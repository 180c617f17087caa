"""Screens of the app; each is imported when first opened."""
