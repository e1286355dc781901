"""From video files to the clips a model sees: the decoder, the `extract` stage that writes each dataset's frame
shards once, the shard format and manifest, the `quarantine` stage over undecodable videos, the random-access
store the loaders read, frame sampling, transforms, and the dataset that puts them together."""
