"""Stage 1, notebook 01: the teacher labels the texts. The prompt (:mod:`.prompts`), the interface that
knows no engine (:mod:`.engine`), the engines (:mod:`.transformers_engine`, :mod:`.gguf_engine`,
:mod:`.server_engine`) and the one module that picks among them (:mod:`.loading`), the cache of its
answers (:mod:`.cache`), calibration, the labeling run (:mod:`.labeling`) and the artifact it writes
(:mod:`.artifacts`), which every later stage reads."""
