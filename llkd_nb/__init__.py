"""llkd_nb: the thin library behind the LLKD notebooks (teacher labeling, analysis, adaptive student
training, baseline comparison). The notebooks call it and explain it; see README.md."""

import warnings

__version__ = "0.1.0"

# tqdm.auto falls back to its text bar in kernels without ipywidgets and warns once; the text bar is
# what we want in executed notebooks.
warnings.filterwarnings("ignore", message="IProgress not found")
