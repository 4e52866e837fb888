"""The foundation every stage stands on, and which imports nothing else of the package: parameters
(:mod:`.params`) and their checks (:mod:`.validation`), the offline assets (:mod:`.assets`), datasets and
their split (:mod:`.data`), the scores (:mod:`.metrics`), devices, quiet hub loading and run records."""
