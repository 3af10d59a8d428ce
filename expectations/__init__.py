"""Data-quality suites (Great Expectations JSON, one per dataset) and the step that routes rows by them."""
