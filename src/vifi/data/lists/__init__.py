"""Which video has which label in which protocol: the list and label-file formats, the readers of each
dataset's official annotations, the paper's shipped label CSVs (`labels/`), resolving listed paths to the videos
on disk, and the stages that write the pipeline's lists (`lists`, `kinetics`, `splits`, `protocols`, `audit`).
Nothing here decodes a video or imports torch, so these jobs start in a fraction of a second."""
