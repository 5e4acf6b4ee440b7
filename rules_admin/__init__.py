"""rules_admin: triage, rule overrides via WAFv2, audit, auth, detector (FastAPI)."""
