"""Stage 2, notebook 03: the student learns from the teacher's labels. The encoder (:mod:`.encoder`), the
selection strategies that keep and weight samples, LLKD and every baseline (:mod:`.selection`), the one
training loop they share (:mod:`.training`), and a trained student's predictions (:mod:`.predict`)."""
