"""vlmrate: make a vision-language model rate images the way people rated them."""

__version__ = "0.1.0"
