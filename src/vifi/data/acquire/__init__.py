"""Getting real data onto disk: the registry of where each dataset and checkpoint comes from, the download
stage that fetches and verifies it, and safe extraction of the archives it ships in. Nothing here decodes a
video or reads an annotation, so paper mode's acquisition can be checked apart from what consumes its files."""
