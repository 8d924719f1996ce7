"""After deployment: the predictor's log of what it served (`prediction_log`), skew and drift
checks on it (`monitor`), the canary readout against real outcomes (`readout`)."""
