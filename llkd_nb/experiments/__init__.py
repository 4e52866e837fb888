"""Stage 3, notebooks 02, 04 and 05: what the runs say. The confidence-accuracy analysis
(:mod:`.analysis`), the compared methods and their tuning (:mod:`.methods`, :mod:`.tuning`), the
comparison and its statistics (:mod:`.compare`, :mod:`.stats`), the run cache (:mod:`.runcache`), and
notebook 05's teacher ladder and decision map (:mod:`.conditions`, :mod:`.proxy_teacher`,
:mod:`.simulation`, :mod:`.decision_map`, :mod:`.teacher_profile`, :mod:`.advice`)."""
