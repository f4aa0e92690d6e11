"""Lookout for Vision model packaging: a request file in, a Greengrass component out."""
