"""Adapters that run analytics against a workspace's warehouse."""
