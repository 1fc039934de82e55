"""The service side: the HTTP service (`http/`) and offline batch scoring (`batch/`), two rooms over one Predictor."""
