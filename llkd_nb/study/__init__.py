"""The plumbing around the notebooks: the study file and the notebooks' parameters (:mod:`.config`), the
figures (:mod:`.plots`), the report that writes README and ``papers/results.md`` from the run folders
(:mod:`.report`), the static site (:mod:`.site`) and the ``llkd-nb`` command (:mod:`.cli`)."""
