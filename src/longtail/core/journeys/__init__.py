"""Journeys: multi-step outreach programs, the contact policy and their pure engine."""
